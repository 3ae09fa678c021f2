#!/usr/bin/env node
// What binding.gyp needs to know, found the same way vendor/build.mjs finds it, so that neither file
// hard-codes a path: `node vendor/gyp-paths.mjs <what>` prints one item a line, quoted for gyp's <!@(...)
// (which splits the output like sh). <what> is one of
//   sources     the addon's cpp/ files (vendor/sources.json, also read by CMakeLists.txt)
//   includes    node-addon-api, and llama.cpp's headers from the unpacked bundle
//   libraries   the prebuilt libllama/libggml/libggml-base node-llama-cpp installed for this platform
//   commit      the llama.cpp commit (vendor/llama.cpp.commit), unquoted for gyp's string context <!(...)
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { packageRoot } from "./unpack.mjs";
import { prebuiltLibraryDir } from "./build.mjs";

const root = dirname(dirname(fileURLToPath(import.meta.url)));

export function sources() {
  return JSON.parse(readFileSync(join(root, "vendor", "sources.json"), "utf8")).sources;
}

export function includes() {
  const llama = join(root, "vendor", "llama.cpp");
  if (!existsSync(join(llama, "include", "llama.h"))) throw new Error("vendor/llama.cpp is missing: run `node vendor/unpack.mjs` first");
  return [packageRoot("node-addon-api"), join(llama, "include"), join(llama, "ggml", "include")];
}

/** libllama, libggml, libggml-base: versioned names (libllama.v0.4.0.so) where the package has them. */
export function libraries(dir = prebuiltLibraryDir()) {
  if (!dir) throw new Error(`no prebuilt llama.cpp for ${process.platform}-${process.arch}`);
  const suffix = process.platform === "darwin" ? ".dylib" : ".so";
  const files = readdirSync(dir);
  const pick = (stem, versioned) => {
    const found = files.find((f) => versioned && f.startsWith(`${stem}.v`) && f.endsWith(suffix)) ?? files.find((f) => f === `${stem}${suffix}`);
    if (!found) throw new Error(`no ${stem}${suffix} in ${dir}`);
    return join(dir, found);
  };
  return [pick("libllama", true), pick("libggml", true), pick("libggml-base", false)];
}

export function commit() {
  return readFileSync(join(root, "vendor", "llama.cpp.commit"), "utf8").trim();
}

const quote = (s) => `'${s.replace(/'/g, `'\\''`)}'`;

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const what = { sources, includes, libraries, commit }[process.argv[2]];
  try {
    if (!what) throw new Error(`usage: node vendor/gyp-paths.mjs sources|includes|libraries|commit`);
    const out = what();
    console.log(Array.isArray(out) ? out.map(quote).join("\n") : out);
  } catch (err) {
    console.error(`gguf-debias: ${err.message}`);
    process.exit(1);
  }
}
