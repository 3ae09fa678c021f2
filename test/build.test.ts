// The addon has two build descriptions: binding.gyp (node-gyp, against the prebuilt llama.cpp libraries:
// the default) and CMakeLists.txt (cmake-js, for source and GPU builds, and the prebuilt fallback). They
// must compile the same cpp/ files with the same meaning, and give the same numbers.
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import semver from "semver";
import t from "tap";
import type { Test } from "tap";
import { packageRoot } from "../lib/package-root.js";

const ROOT = packageRoot();
const RELEASE = join(ROOT, "build", "Release");

type Builder = "node-gyp" | "cmake-js";
interface BuildModule {
  prebuiltLibraryDir(): string | null;
  nodeHeadersDir(): string | null;
  chooseBuilder(mode: "prebuilt" | "source", asked: string | undefined, nodeDir: string | null): Builder;
  cpuFlagsLine(cpuinfo: string): string | null;
  tunedCpuFlags(flags: string): string[];
  dropSource(packageDir: string, keep: string | undefined): boolean;
}
const build = (await import(pathToFileURL(join(ROOT, "vendor", "build.mjs")).href)) as BuildModule;
const prebuiltDir = build.prebuiltLibraryDir();
const nodeDir = build.nodeHeadersDir();
const stamp = JSON.parse(readFileSync(join(RELEASE, "build-info.json"), "utf8")) as { llama: "prebuilt" | "source"; builder?: Builder; cpuBackend?: string; cpuFlags?: string };

/** A copy of what the build reads, in a temporary folder; node_modules and the unpacked llama.cpp are linked. */
function scratch(t: Test): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), "gguf-debias-build-")));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const f of ["binding.gyp", "CMakeLists.txt", "package.json", "cpp"]) cpSync(join(ROOT, f), join(dir, f), { recursive: true });
  mkdirSync(join(dir, "vendor"));
  for (const f of readdirSync(join(ROOT, "vendor")).filter((f) => /\.(mjs|json|commit)$/.test(f))) cpSync(join(ROOT, "vendor", f), join(dir, "vendor", f));
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
  symlinkSync(join(ROOT, "vendor", "llama.cpp"), join(dir, "vendor", "llama.cpp"));
  return dir;
}

interface CompileCommand {
  file: string;
  directory: string;
  command?: string;
  arguments?: string[];
}

/** The cpp/ files a compile_commands.json compiles, as paths relative to `dir`, with their command lines. */
function compiled(file: string, dir: string): Map<string, string> {
  const commands = JSON.parse(readFileSync(file, "utf8")) as CompileCommand[];
  return new Map(commands.map((c) => [relative(dir, resolve(dir, c.directory, c.file)).split("\\").join("/"), c.command ?? c.arguments!.join(" ")]));
}

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  try {
    // A source build prints megabytes of compiler warnings: keep them all, report the end.
    return execFileSync(command, args, { cwd, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 1 << 28 });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    const tail = (s?: string) => (s ?? "").slice(-4000);
    throw new Error(`${command} ${args.join(" ")} failed: ${e.message.slice(0, 500)}\n${tail(e.stdout)}\n${tail(e.stderr)}`);
  }
}

const cppFiles = readdirSync(join(ROOT, "cpp")).filter((f) => f.endsWith(".cpp")).map((f) => `cpp/${f}`).sort();

t.test("vendor/sources.json lists every cpp/ source", async (t) => {
  const { sources } = JSON.parse(readFileSync(join(ROOT, "vendor", "sources.json"), "utf8")) as { sources: string[] };
  t.same([...sources].sort(), cppFiles);
});

t.test("binding.gyp and CMakeLists.txt compile the same cpp/ files with the same meaning", async (t) => {
  const dir = scratch(t);
  const commands: Record<string, Map<string, string>> = {};

  if (!nodeDir) {
    t.skip("Node's headers are not installed beside this node: binding.gyp cannot be configured here");
  } else {
    run(process.execPath, [join(ROOT, "node_modules", "node-gyp", "bin", "node-gyp.js"), "configure", `--nodedir=${nodeDir}`, "--loglevel=warn", "--", "-f", "compile_commands_json"], dir);
    commands["binding.gyp"] = compiled(join(dir, "build", "Release", "compile_commands.json"), dir);
  }

  const mode = prebuiltDir ? "prebuilt" : "source";
  const cmakeDir = join(dir, "cmake");
  run("cmake", ["-S", dir, "-B", cmakeDir, "-DCMAKE_BUILD_TYPE=Release", "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON", `-DGGUF_DEBIAS_LLAMA=${mode}`,
    ...(prebuiltDir ? [`-DGGUF_DEBIAS_PREBUILT_DIR=${prebuiltDir}`] : [])], dir);
  // A source build also compiles llama.cpp: only our cpp/ files are compared.
  commands["CMakeLists.txt"] = new Map([...compiled(join(cmakeDir, "compile_commands.json"), dir)].filter(([f]) => f.startsWith("cpp/")));

  for (const [file, map] of Object.entries(commands)) {
    t.same([...map.keys()].sort(), cppFiles, `${file} compiles exactly the cpp/ sources`);
    for (const [source, command] of map) {
      for (const flag of ["-O3", "-DNDEBUG", "-DNAPI_VERSION=8", "-DNAPI_CPP_EXCEPTIONS", "GGUF_DEBIAS_LLAMA_COMMIT="]) {
        t.ok(command.includes(flag), `${file}: ${source} is compiled with ${flag}`);
      }
      t.notOk(/-fno-exceptions|-fno-rtti|-ffast-math/.test(command), `${file}: ${source} keeps exceptions, RTTI and strict floating point`);
    }
  }
});

t.test("the unpacked llama.cpp source is removed after the build only in an installed dependency", async (t) => {
  t.ok(build.dropSource("/app/node_modules/gguf-debias", undefined), "installed: 207 MB nobody reads");
  t.notOk(build.dropSource("/app/node_modules/gguf-debias", "1"), "GGUF_DEBIAS_KEEP_SOURCE=1 keeps it");
  t.notOk(build.dropSource("/work/gguf-debias", undefined), "a development checkout keeps it");
  t.ok(existsSync(join(ROOT, "vendor", "llama.cpp", "ggml", "include", "ggml.h")), "this checkout has it");
});

t.test("the package ships the library, its licence and one model, without benchmarks or orphan source maps", async (t) => {
  const [pack] = JSON.parse(run("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], ROOT)) as { files: { path: string }[] }[];
  const files = pack!.files.map((f) => f.path);
  for (const wanted of ["LICENSE", "README.md", "dist/lib/index.js", "dist/lib/index.d.ts", "dist/bin/gguf-debias.js", "binding.gyp", "vendor/build.mjs", "require.cjs", "models/llama-localized.f32.gguf", "data/demo.json"]) {
    t.ok(files.includes(wanted), `${wanted} is in the tarball`);
  }
  t.same(files.filter((f) => f.endsWith(".map") || f.startsWith("dist/bench/") || f.startsWith("dist/test/") || f.startsWith("test/") || f.startsWith("vendor/llama.cpp/")), [], "no source maps, benchmarks, tests or unpacked llama.cpp");
});

t.test("every installed dependency runs on the oldest Node the package claims", async (t) => {
  const { engines } = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { engines: { node: string } };
  const oldest = semver.minVersion(engines.node)!.version;
  const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as { packages: Record<string, { dev?: boolean; engines?: { node?: string } | string[] }> };
  const refused = Object.entries(lock.packages)
    .filter(([path, p]) => path !== "" && !p.dev && p.engines && !Array.isArray(p.engines) && p.engines.node && !semver.satisfies(oldest, p.engines.node))
    .map(([path, p]) => `${path} (${(p.engines as { node: string }).node})`);
  t.same(refused, [], `engines.node ${engines.node}: no dependency needs a newer Node (npm warns EBADENGINE otherwise)`);
});

t.test("the build path follows the libraries and headers at hand", async (t) => {
  t.equal(build.chooseBuilder("prebuilt", undefined, "/usr"), "node-gyp", "prebuilt libraries and Node's headers: binding.gyp");
  t.equal(build.chooseBuilder("prebuilt", undefined, null), "cmake-js", "no Node headers: CMake");
  t.equal(build.chooseBuilder("prebuilt", "cmake", "/usr"), "cmake-js", "GGUF_DEBIAS_BUILDER=cmake");
  t.equal(build.chooseBuilder("source", undefined, "/usr"), "cmake-js", "source builds: CMake");
  t.throws(() => build.chooseBuilder("source", "gyp", "/usr"), /prebuilt libraries only/);
  t.throws(() => build.chooseBuilder("prebuilt", "make", "/usr"), /GGUF_DEBIAS_BUILDER/);
  t.equal(stamp.builder, build.chooseBuilder(stamp.llama, process.env.GGUF_DEBIAS_BUILDER || undefined, nodeDir), "the installed addon was built by the expected file");
  if (stamp.builder === "node-gyp" && process.platform === "linux") {
    t.match(run("readelf", ["-d", join(RELEASE, "gguf_debias.node")], ROOT), /RUNPATH.*\$ORIGIN/, "the addon finds the libraries beside it");
    for (const lib of readdirSync(prebuiltDir!).filter((f) => /^lib(llama|ggml)(\.v[\d.]+)?\.so$|^libggml-base\.so$/.test(f))) {
      t.ok(existsSync(join(RELEASE, lib)), `${lib} is copied beside the addon`);
    }
  }
});

t.test("the CPU backend compiled for this CPU names each feature ggml checks at load", async (t) => {
  const options = (flags: string) => Object.fromEntries(build.tunedCpuFlags(flags).filter((f) => /^-DGGML_(SSE|AVX|F16C|FMA|BMI|AMX)/.test(f)).map((f) => f.slice(2).split("=")));
  const zen4 = "fpu sse4_2 avx f16c fma bmi2 avx2 avx512f avx512dq avx512cd avx512bw avx512vl avx512vbmi avx512_vnni avx512_bf16";
  t.match(options(zen4), { GGML_AVX2: "ON", GGML_AVX512: "ON", GGML_AVX512_BF16: "ON", GGML_AVX_VNNI: "OFF", GGML_AMX_TILE: "OFF" });
  t.match(options("sse4_2 avx f16c fma bmi2 avx2"), { GGML_AVX2: "ON", GGML_AVX512: "OFF", GGML_AVX512_VNNI: "OFF" }, "Haswell");
  t.match(options("sse4_2 avx avx2 avx512f"), { GGML_AVX512: "OFF" }, "AVX512F alone is not ggml's AVX512 (it also needs CD, VL, DQ, BW)");
  t.ok(build.tunedCpuFlags(zen4).includes("-DCMAKE_PLATFORM_NO_VERSIONED_SONAME=ON"), "the plugin binds to the prebuilt libggml-base.so by its soname");
  t.equal(build.cpuFlagsLine("processor\t: 0\nflags\t\t: fpu avx2 \nbugs\t: x\n"), "fpu avx2");
  t.equal(build.cpuFlagsLine("processor : 0\n"), null, "no flags line (not x86 Linux): no tuned build");
  if (!stamp.cpuBackend) return t.comment("this install uses the prebuilt CPU variants");
  const file = join(RELEASE, stamp.cpuBackend);
  const dynamic = run("readelf", ["-d", file], ROOT);
  t.match(dynamic, /NEEDED.*\[libggml-base\.so\]/, "it needs libggml-base.so, the prebuilt one already loaded");
  t.notMatch(dynamic, /RUNPATH|RPATH/, "and no search path that could load a second copy");
  t.equal(stamp.cpuFlags, build.cpuFlagsLine(readFileSync("/proc/cpuinfo", "utf8")), "compiled for this CPU");
  // the same numbers as the prebuilt variant it replaces, only faster
  const dir = t.testdir();
  const dumps = ["", file].map((cpu, k) => {
    const out = join(dir, `${k}.bin`);
    run(process.execPath, [join(ROOT, "vendor", "compare-builds.mjs"), "--dump", RELEASE, cpu, out, "llama-localized", "gpt2-localized"], ROOT);
    return readFileSync(out);
  });
  t.ok(dumps[0]!.equals(dumps[1]!), `log-probs, distributions and activations of the fixtures: bit-identical with the prebuilt variant (${dumps[0]!.length} bytes)`);
});

/** Builds the addon in a scratch copy and checks it computes the installed addon's numbers byte for byte. */
async function compareWith(t: Test, env: Record<string, string>, expected: Builder): Promise<void> {
  const dir = scratch(t);
  // compare-builds runs both on the installed CPU backend: the scratch build need not compile its own
  const childEnv = { ...process.env, GGUF_DEBIAS_CPU: "prebuilt", ...env };
  delete childEnv.GGUF_DEBIAS_CMAKE_ARGS;
  run(process.execPath, [join(dir, "vendor", "build.mjs")], dir, childEnv);
  const other = JSON.parse(readFileSync(join(dir, "build", "Release", "build-info.json"), "utf8")) as { builder: Builder; seconds: number };
  t.equal(other.builder, expected);
  t.comment(`the ${expected} build took ${other.seconds.toFixed(1)} s`);
  const out = run(process.execPath, [join(ROOT, "vendor", "compare-builds.mjs"), RELEASE, join(dir, "build", "Release")], ROOT);
  t.match(out, /identical/, `the installed ${stamp.builder} build (${stamp.llama}) and a ${expected} build (${env.GGUF_DEBIAS_LLAMA}) give bit-identical log-probs, distributions and activations`);
}

t.test("the node-gyp and CMake builds against the prebuilt libraries give identical numbers", async (t) => {
  if (stamp.llama !== "prebuilt" || !prebuiltDir) return t.skip("the installed addon is a source build");
  const other: Builder = stamp.builder === "node-gyp" ? "cmake-js" : "node-gyp";
  if (other === "node-gyp" && !nodeDir) return t.skip("Node's headers are not installed: no node-gyp build here");
  await compareWith(t, { GGUF_DEBIAS_LLAMA: "prebuilt", GGUF_DEBIAS_BUILDER: other === "node-gyp" ? "gyp" : "cmake" }, other);
});

// Several minutes on two cores: opt in with GGUF_DEBIAS_TEST_SOURCE_BUILD=1.
t.test("a source build gives the installed addon's numbers", { skip: process.env.GGUF_DEBIAS_TEST_SOURCE_BUILD !== "1" && "set GGUF_DEBIAS_TEST_SOURCE_BUILD=1 to build llama.cpp from source (minutes)" }, async (t) => {
  if (stamp.llama === "source") return t.skip("the installed addon is a source build already");
  await compareWith(t, { GGUF_DEBIAS_LLAMA: "source" }, "cmake-js");
});
