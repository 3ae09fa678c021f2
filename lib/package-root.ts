import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

// The same code runs from lib/ (tests, via tap's TypeScript loader) and from dist/lib/ (the CLI), so
// files that ship beside it (the addon, data/) are found from the package root, not from this file.
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, "package.json");
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, "utf8")) as { name?: string }).name === "gguf-debias") {
      return dir;
    }
    const up = dirname(dir);
    if (up === dir) throw new Error("cannot find the gguf-debias package root");
    dir = up;
  }
}
