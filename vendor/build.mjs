#!/usr/bin/env node
// Builds the addon on `npm install`. Default: link the prebuilt llama.cpp libraries that the pinned
// node-llama-cpp installs for this platform, compiling our cpp/ files with node-gyp from binding.gyp
// (seconds); where none fits, or when asked (GGUF_DEBIAS_LLAMA=source, or any GGUF_DEBIAS_CMAKE_ARGS such
// as -DGGML_CUDA=ON), build the vendored llama.cpp source statically with cmake-js from CMakeLists.txt
// (several minutes). Both use the same llama.cpp commit. node-gyp compiles against the running Node's own
// headers (<prefix>/include/node), never downloaded ones; where they are not installed, the prebuilt
// build goes through CMake too (GGUF_DEBIAS_BUILDER=cmake asks for that). Builds are incremental:
// rerunning after a change to cpp/ recompiles only what changed (--force starts clean).
//
// With the prebuilt libraries on x86-64 Linux it also compiles ggml's CPU backend from the same source
// for this machine's CPU (about a minute on 2 cores), loaded instead of the prebuilt CPU variants: those
// run the same kernels but, as compiled, up to 2x slower here (README, Building). Where that build fails,
// or with GGUF_DEBIAS_CPU=prebuilt, the prebuilt variants are used.
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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

/** The running Node's install prefix, if it holds the headers and common.gypi node-gyp builds against. */
export function nodeHeadersDir() {
  const prefix = dirname(dirname(process.execPath));
  return existsSync(join(prefix, "include", "node", "common.gypi")) && existsSync(join(prefix, "include", "node", "node_api.h")) ? prefix : null;
}

/**
 * binding.gyp (node-gyp) builds against the prebuilt libraries wherever Node's headers are installed;
 * CMakeLists.txt (cmake-js) builds from source, and against the prebuilt libraries where the headers are
 * missing or GGUF_DEBIAS_BUILDER=cmake asks for it.
 */
export function chooseBuilder(mode, asked, nodeDir) {
  if (asked !== undefined && asked !== "gyp" && asked !== "cmake") throw new Error(`GGUF_DEBIAS_BUILDER must be "gyp" or "cmake", not "${asked}"`);
  if (mode === "source") {
    if (asked === "gyp") throw new Error("binding.gyp builds against the prebuilt libraries only: source builds go through CMake");
    return "cmake-js";
  }
  if (asked === "cmake") return "cmake-js";
  if (!nodeDir) {
    if (asked === "gyp") throw new Error(`Node's headers are not installed under ${dirname(dirname(process.execPath))}/include/node`);
    return "cmake-js";
  }
  return "node-gyp";
}

/** The `flags` line of /proc/cpuinfo: what the tuned CPU backend was built for (native.ts compares it at load). */
export function cpuFlagsLine(cpuinfo) {
  return /^flags\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.trim() ?? null;
}

// x86 CPU flags and the ggml options that compile for them and, at load, check the CPU still has them.
const X86_OPTIONS = [
  [["sse4_2"], "GGML_SSE42"], [["avx"], "GGML_AVX"], [["f16c"], "GGML_F16C"], [["fma"], "GGML_FMA"],
  [["bmi2"], "GGML_BMI2"], [["avx2"], "GGML_AVX2"], [["avx_vnni"], "GGML_AVX_VNNI"],
  [["avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw"], "GGML_AVX512"], [["avx512vbmi"], "GGML_AVX512_VBMI"],
  [["avx512_vnni"], "GGML_AVX512_VNNI"], [["avx512_bf16"], "GGML_AVX512_BF16"],
  [["amx_tile"], "GGML_AMX_TILE"], [["amx_int8"], "GGML_AMX_INT8"], [["amx_bf16"], "GGML_AMX_BF16"],
];

/**
 * CMake flags for a CPU backend plugin tuned for a CPU with `flags`. ggml refuses GGML_NATIVE for
 * plugins (its load-time check reads the feature options), so the features are named one by one and
 * -march=native adds the code generation: both measured, the options alone gave 0.80-0.87 of llama-bench
 * on F16 and F32, with -march=native 1.06-1.27.
 */
export function tunedCpuFlags(flags) {
  const have = new Set(flags.split(/\s+/));
  return [
    "-DGGML_BACKEND_DL=ON", "-DBUILD_SHARED_LIBS=ON", "-DGGML_NATIVE=OFF", "-DGGML_OPENMP=OFF", "-DGGML_CCACHE=OFF",
    "-DCMAKE_BUILD_TYPE=Release", "-DCMAKE_C_FLAGS=-march=native", "-DCMAKE_CXX_FLAGS=-march=native",
    // the plugin must bind to the prebuilt libggml-base.so already loaded (matched by soname), never to a copy
    "-DCMAKE_PLATFORM_NO_VERSIONED_SONAME=ON", "-DCMAKE_SKIP_RPATH=ON",
    "-DLLAMA_BUILD_COMMON=OFF", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_TOOLS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_SERVER=OFF", "-DLLAMA_BUILD_APP=OFF", "-DLLAMA_OPENSSL=OFF",
    ...X86_OPTIONS.map(([needs, option]) => `-D${option}=${needs.every((f) => have.has(f)) ? "ON" : "OFF"}`),
  ];
}

export const TUNED_CPU_BACKEND = "libggml-cpu-tuned.so";

/**
 * Builds ggml's CPU backend for this CPU into build/cpu-tuned and copies it beside the addon; returns the
 * stamp fields, or null (with the reason on stderr) where the prebuilt variants stay in use.
 */
function buildTunedCpu(source, jobs, force) {
  const asked = process.env.GGUF_DEBIAS_CPU ?? "tuned";
  if (asked !== "tuned" && asked !== "prebuilt") throw new Error(`GGUF_DEBIAS_CPU must be "tuned" or "prebuilt", not "${asked}"`);
  if (asked === "prebuilt" || process.platform !== "linux" || process.arch !== "x64") return null;
  let flags;
  try {
    flags = cpuFlagsLine(readFileSync("/proc/cpuinfo", "utf8"));
  } catch {
    flags = null;
  }
  if (!flags) return null;
  const dir = join(root, "build", "cpu-tuned");
  if (force) rmSync(dir, { recursive: true, force: true });
  const started = Date.now();
  try {
    // compiler warnings go to stderr: kept (for the reason of a failure), not shown
    const quiet = { stdio: ["ignore", "ignore", "pipe"], maxBuffer: 1 << 28 };
    execFileSync("cmake", ["-S", source, "-B", dir, ...tunedCpuFlags(flags)], quiet);
    execFileSync("cmake", ["--build", dir, "--target", "ggml-cpu", "--parallel", jobs], quiet);
    copyFileSync(join(dir, "bin", "libggml-cpu.so"), join(release, TUNED_CPU_BACKEND));
  } catch (err) {
    const why = String(err.stderr ?? err.message).trim().split("\n").slice(-3).join(" ");
    console.error(`gguf-debias: the CPU backend could not be compiled for this CPU, so the prebuilt one is used (slower on F16/F32): ${why}`);
    return null;
  }
  const seconds = (Date.now() - started) / 1000;
  console.error(`gguf-debias: compiled the CPU backend for this CPU in ${seconds.toFixed(0)} s`);
  return { cpuBackend: TUNED_CPU_BACKEND, cpuFlags: flags, cpuSeconds: seconds };
}

function readStamp() {
  try {
    return JSON.parse(readFileSync(stampFile, "utf8"));
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

  const asked = process.env.GGUF_DEBIAS_BUILDER || undefined;
  const nodeDir = nodeHeadersDir();
  const builder = chooseBuilder(mode, asked, nodeDir);
  if (mode === "prebuilt" && builder === "cmake-js" && !asked) {
    console.error(`gguf-debias: Node's headers are not under ${dirname(dirname(process.execPath))}/include/node, so the prebuilt build goes through CMake`);
  }

  const commit = readFileSync(join(root, "vendor", "llama.cpp.commit"), "utf8").trim();
  const wanted = { llama: mode, builder, commit, cmakeArgs: extra, prebuiltDir: mode === "prebuilt" ? prebuiltDir : null };
  // node-gyp and cmake-js each own build/ (a Makefile, a CMake cache): switching starts clean.
  const previous = readStamp();
  if (previous && (previous.builder ?? "cmake-js") !== builder) rmSync(join(root, "build"), { recursive: true, force: true });
  const source = unpack();
  const jobs = String(Math.max(1, cpus().length));
  let args;
  if (builder === "node-gyp") {
    const nodeGyp = join(packageRoot("node-gyp"), "bin", "node-gyp.js");
    args = [nodeGyp, ...(force ? ["rebuild"] : ["configure", "build"]), `--nodedir=${nodeDir}`, `--jobs=${jobs}`, "--release", "--loglevel=warn"];
  } else {
    const cmakeJs = join(packageRoot("cmake-js"), "bin", "cmake-js");
    args = [cmakeJs, force ? "rebuild" : "compile", "--directory", root, "--out", join(root, "build"),
      "--parallel", jobs, `--CDGGUF_DEBIAS_LLAMA=${mode}`, "--CDCMAKE_BUILD_TYPE=Release"];
    if (mode === "prebuilt") args.push(`--CDGGUF_DEBIAS_PREBUILT_DIR=${prebuiltDir}`);
    for (const flag of extra) {
      if (!flag.startsWith("-D")) throw new Error(`GGUF_DEBIAS_CMAKE_ARGS takes -DNAME=VALUE flags, not "${flag}"`);
      args.push(`--CD${flag.slice(2)}`);
    }
  }
  console.error(`gguf-debias: building the addon with ${builder} against ${mode} llama.cpp ${commit.slice(0, 12)}`);
  const started = Date.now();
  execFileSync(process.execPath, args, { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
  const seconds = (Date.now() - started) / 1000;
  console.error(`gguf-debias: addon built in ${seconds.toFixed(0)} s`);
  const tuned = mode === "prebuilt" ? buildTunedCpu(source, jobs, force) : null;
  if (!tuned) rmSync(join(release, TUNED_CPU_BACKEND), { force: true });
  writeFileSync(stampFile, JSON.stringify({ ...wanted, seconds, ...tuned }, null, 2) + "\n");
  if (dropSource(root, process.env.GGUF_DEBIAS_KEEP_SOURCE)) {
    rmSync(join(root, "vendor", "llama.cpp"), { recursive: true, force: true });
    console.error("gguf-debias: removed the unpacked llama.cpp source (207 MB; `npm rebuild gguf-debias` unpacks it again)");
  }
}

/**
 * Whether to remove vendor/llama.cpp after a build: in a package installed as a dependency nothing reads
 * it at run time (a rebuild unpacks it again from node-llama-cpp's bundle in seconds), so it only costs
 * 207 MB of disk; a development checkout keeps it (tests read ggml.h; rebuilds stay incremental), as does
 * GGUF_DEBIAS_KEEP_SOURCE=1.
 */
export function dropSource(packageDir, keep) {
  return !(keep && keep !== "0") && packageDir.split(/[\\/]/).includes("node_modules");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    main();
  } catch (err) {
    console.error(`gguf-debias: ${err.message}`);
    process.exit(1);
  }
}
