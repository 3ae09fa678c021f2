// The public API is what the README lists: every name lib/index.ts exports is in its table, and
// nothing more, so an embedder can rely on the list and nothing private leaks out unnoticed.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { packageRoot } from "../lib/package-root.js";

const readme = readFileSync(join(packageRoot(), "README.md"), "utf8");
const section = readme.slice(readme.indexOf("### Public API"), readme.indexOf("\n## ", readme.indexOf("### Public API")));
const listed = new Set([...section.matchAll(/^\|.*\|$/gm)].flatMap(([row]) => [...row.matchAll(/`([A-Za-z]\w*)`/g)].map(([, name]) => name!)));
const source = readFileSync(join(packageRoot(), "lib", "index.ts"), "utf8");
const exported = new Set([...source.matchAll(/^export (?:type )?\{([^}]*)\}/gm)].flatMap(([, names]) => names!.split(",").map((n) => n.trim().replace(/^type /, ""))));

t.test("the README's Public API table lists exactly what lib/index.ts exports", async (t) => {
  t.ok(exported.size > 60, `${exported.size} names exported`);
  t.same([...exported].filter((n) => !listed.has(n)).sort(), [], "exported but not listed");
  t.same([...listed].filter((n) => !exported.has(n)).sort(), [], "listed but not exported");
});

t.test("every runtime export is a listed name; the raw addon and method internals are not among them", async (t) => {
  const api: Record<string, unknown> = await import("../lib/index.js");
  t.same(Object.keys(api).filter((n) => !listed.has(n)), []);
  for (const name of ["native", "LlamaModel", "causalEffects", "selectNeurons", "compareRuns", "dlaWeights"]) t.equal(api[name], undefined, `${name} is private`);
});
