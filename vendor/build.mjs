#!/usr/bin/env node
// Builds the addon on `npm install`. Default: link the prebuilt llama.cpp libraries that the pinned
// node-llama-cpp installs for this platform (about a minute); where none fits, or when asked
// (GGUF_DEBIAS_LLAMA=source, or any GGUF_DEBIAS_CMAKE_ARGS such as -DGGML_CUDA=ON), build the vendored
// llama.cpp source statically (several minutes). Both use the same llama.cpp commit. Builds are
// incremental: rerunning after a change to cpp/ recompiles only what changed (--force starts clean).
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { packageRoot, unpack } from "./unpack.mjs";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const release = join(root, "build", "Release");
const stampFile = join(release, "build-info.json");

// node-llama-cpp's prebuilt packages that ship plain (non-GPU) libraries we can link against.
const PREBUILT = {
  "linux-x64": "linux-x64",
  "linux-arm64": "linux-arm64",
  "linux-arm": "linux-armv7l",
  "darwin-arm64": "mac-arm64-metal",
  "darwin-x64": "mac-x64",
};

export function prebuiltLibraryDir() {
  const name = PREBUILT[`${process.platform}-${process.arch}`];
  if (!name) return null;
  try {
    const dir = join(packageRoot(`@node-llama-cpp/${name}`), "bins", name);
    return existsSync(dir) && readdirSync(dir).some((f) => f.startsWith("libllama")) ? dir : null;
  } catch {
    return null;
  }
}

function main() {
  const force = process.argv.includes("--force");
  const extra = (process.env.GGUF_DEBIAS_CMAKE_ARGS ?? "").split(/\s+/).filter(Boolean);
  const prebuiltDir = prebuiltLibraryDir();
  let mode = process.env.GGUF_DEBIAS_LLAMA ?? (extra.length > 0 || !prebuiltDir ? "source" : "prebuilt");
  if (mode !== "source" && mode !== "prebuilt") throw new Error(`GGUF_DEBIAS_LLAMA must be "source" or "prebuilt", not "${mode}"`);
  if (mode === "prebuilt" && !prebuiltDir) {
    throw new Error(`no prebuilt llama.cpp for ${process.platform}-${process.arch}: install without --omit=optional, or set GGUF_DEBIAS_LLAMA=source`);
  }
  if (mode === "prebuilt" && extra.length > 0) throw new Error("GGUF_DEBIAS_CMAKE_ARGS apply to source builds only: set GGUF_DEBIAS_LLAMA=source");

  const commit = readFileSync(join(root, "vendor", "llama.cpp.commit"), "utf8").trim();
  const wanted = { llama: mode, commit, cmakeArgs: extra, prebuiltDir: mode === "prebuilt" ? prebuiltDir : null };
  unpack();
  const cmakeJs = join(packageRoot("cmake-js"), "bin", "cmake-js");
  const args = [cmakeJs, force ? "rebuild" : "compile", "--directory", root, "--out", join(root, "build"),
    "--parallel", String(Math.max(1, cpus().length)),
    `--CDGGUF_DEBIAS_LLAMA=${mode}`, "--CDCMAKE_BUILD_TYPE=Release"];
  if (mode === "prebuilt") args.push(`--CDGGUF_DEBIAS_PREBUILT_DIR=${prebuiltDir}`);
  for (const flag of extra) {
    if (!flag.startsWith("-D")) throw new Error(`GGUF_DEBIAS_CMAKE_ARGS takes -DNAME=VALUE flags, not "${flag}"`);
    args.push(`--CD${flag.slice(2)}`);
  }
  console.error(`gguf-debias: building the addon against ${mode} llama.cpp ${commit.slice(0, 12)}`);
  const started = Date.now();
  execFileSync(process.execPath, args, { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
  const seconds = (Date.now() - started) / 1000;
  writeFileSync(stampFile, JSON.stringify({ ...wanted, seconds }, null, 2) + "\n");
  console.error(`gguf-debias: addon built in ${seconds.toFixed(0)} s`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    main();
  } catch (err) {
    console.error(`gguf-debias: ${err.message}`);
    process.exit(1);
  }
}
