// The library's folders follow the run — measure → locate → select → edit → verify → pipeline — and
// imports only run that way: a newcomer reading a stage never has to read a later one to follow it.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import t from "tap";
import { packageRoot } from "../lib/package-root.js";

const lib = join(packageRoot(), "lib");
const STAGES = ["measure", "locate", "select", "edit", "verify", "pipeline.ts"];

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : name.endsWith(".ts") ? [path] : [];
  });
}

/** The stage a lib/ file belongs to, by its first path segment; -1 for shared infrastructure. */
const stageOf = (file: string) => STAGES.indexOf(relative(lib, file).split("/")[0]!);

t.test("no import runs back up the stages of a run", async (t) => {
  const backwards: string[] = [];
  for (const file of files(lib)) {
    for (const [, spec] of readFileSync(file, "utf8").matchAll(/^(?:import|export)[^;]*? from "(\.[^"]+)";/gm)) {
      const target = resolve(dirname(file), spec!).replace(/\.js$/, ".ts");
      const [from, to] = [stageOf(file), stageOf(target)];
      if (from >= 0 && to > from) backwards.push(`${relative(lib, file)} → ${relative(lib, target)}`);
    }
  }
  t.same(backwards, []);
});

t.test("the library never imports the CLI built on it", async (t) => {
  const intoBin = files(lib).filter((file) => [...readFileSync(file, "utf8").matchAll(/^(?:import|export)[^;]*? from "(\.[^"]+)";/gm)].some(([, spec]) => relative(packageRoot(), resolve(dirname(file), spec!)).startsWith("bin/")));
  t.same(intoBin.map((f) => relative(packageRoot(), f)), []);
});

t.test("no file of lib/ or bin/ imports itself through others: the import graph has no cycle", async (t) => {
  const all = [...files(lib), ...files(join(packageRoot(), "bin"))];
  const edges = new Map(all.map((file) => [file, [...readFileSync(file, "utf8").matchAll(/^(?:import|export)[^;]*? from "(\.[^"]+)";/gm)].map(([, spec]) => resolve(dirname(file), spec!).replace(/\.js$/, ".ts"))]));
  const cycles: string[] = [];
  const state = new Map<string, "open" | "done">();
  const visit = (file: string, path: string[]): void => {
    if (state.get(file) === "done") return;
    if (state.get(file) === "open") {
      cycles.push([...path.slice(path.indexOf(file)), file].map((f) => relative(packageRoot(), f)).join(" → "));
      return;
    }
    state.set(file, "open");
    for (const next of edges.get(file) ?? []) visit(next, [...path, file]);
    state.set(file, "done");
  };
  for (const file of all) visit(file, []);
  t.ok(edges.size > 60, `${edges.size} files read`);
  t.same(cycles, []);
});

t.test("the CLI's progress display does not import the CLI that uses it", async (t) => {
  t.notMatch(readFileSync(join(packageRoot(), "bin", "progress.ts"), "utf8"), /from "\.\/cli\.js"/);
});

t.test("the library and the CLI read nothing under test/: the package ships without it", async (t) => {
  // a path into test/: join(root, "test", …) or "test/…" ("test" alone is also WinoBias's split)
  const readsTest = [...files(lib), ...files(join(packageRoot(), "bin"))].filter((file) => /["'`]test["'`]\s*,\s*["'`]|["'`/]test\//.test(readFileSync(file, "utf8")));
  t.same(readsTest.map((f) => relative(packageRoot(), f)), []);
});
