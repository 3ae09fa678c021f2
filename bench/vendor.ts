// The vendored llama.cpp source, for benches that build llama.cpp's own tools to compare against.
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { packageRoot } from "../lib/package-root.js";

export async function unpackLlamaSource(): Promise<string> {
  const { unpack } = (await import(pathToFileURL(join(packageRoot(), "vendor", "unpack.mjs")).href)) as { unpack: () => string };
  return unpack();
}
