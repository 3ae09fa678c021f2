#!/usr/bin/env node
// Unpacks the llama.cpp source that the pinned node-llama-cpp ships as a git bundle into vendor/llama.cpp.
// The bundle is the only llama.cpp source we trust: the prebuilt libraries we may link were built from it,
// so headers and libraries always agree. The expected commit is recorded in vendor/llama.cpp.commit.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const target = join(here, "llama.cpp");
const expected = readFileSync(join(here, "llama.cpp.commit"), "utf8").trim();

function git(args, cwd) {
  return execFileSync("git", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
}

// node-llama-cpp's "exports" hides package.json, so find its root from its entry point.
export function packageRoot(name) {
  const require = createRequire(import.meta.url);
  let dir = dirname(require.resolve(name));
  while (!existsSync(join(dir, "package.json")) || JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).name !== name) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the root of package ${name}`);
    dir = up;
  }
  return dir;
}

export function bundlePath() {
  return join(packageRoot("node-llama-cpp"), "llama", "gitRelease.bundle");
}

export function unpack() {
  if (existsSync(join(target, ".git"))) {
    const head = git(["rev-parse", "HEAD"], target);
    if (head === expected) return target;
    rmSync(target, { recursive: true, force: true });
  }
  const bundle = bundlePath();
  if (!existsSync(bundle)) throw new Error(`llama.cpp bundle not found at ${bundle}: is node-llama-cpp@3.21.1 installed?`);
  git(["clone", "--quiet", bundle, target], here);
  const head = git(["rev-parse", "HEAD"], target);
  if (head !== expected) {
    throw new Error(`llama.cpp bundle yields commit ${head}, expected ${expected} (vendor/llama.cpp.commit)`);
  }
  return target;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    console.log(unpack());
  } catch (err) {
    console.error(`gguf-debias: ${err.message}`);
    process.exit(1);
  }
}
