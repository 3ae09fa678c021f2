// Every error code the library, the CLI and the addon can raise is documented in the README's table,
// and the table lists no code that nothing raises.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { packageRoot } from "../lib/package-root.js";

const root = packageRoot();

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : /\.(ts|cpp|h)$/.test(name) ? [path] : [];
  });
}

t.test("the README lists exactly the error codes the code raises", async (t) => {
  const raised = new Set(["lib", "bin", "cpp"].flatMap((d) => sources(join(root, d))).flatMap((f) => [...readFileSync(f, "utf8").matchAll(/"(E_[A-Z0-9_]+)"/g)].map((m) => m[1]!)));
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const table = readme.slice(readme.indexOf("## Error codes"), readme.indexOf("\n## ", readme.indexOf("## Error codes") + 1));
  const listed = new Set([...table.matchAll(/`(E_[A-Z0-9_]+)`/g)].map((m) => m[1]!).filter((c) => c !== "E_DATASET_DUPLICATE_WORD"));
  const dataset = [...raised].filter((c) => c.startsWith("E_DATASET_"));
  t.match(table, new RegExp(`${dataset.length} codes`), "the dataset codes are counted");
  t.same([...raised].filter((c) => !c.startsWith("E_DATASET_") && !listed.has(c)).sort(), [], "every raised code is listed");
  t.same([...listed].filter((c) => !raised.has(c) && c !== "E_DATASET_*").sort(), [], "every listed code is raised somewhere");
});

t.test("every code the library raises starts with E_ (the CLI prints only such codes)", async (t) => {
  // raised directly, or through a file's own helper: fail(CODE, …), fail(path, CODE, …), refuse(CODE, …)
  const sites = /new DebiasError\(\s*"([^"]+)"|\b(?:fail|refuse)\(\s*(?:[a-z]\w*,\s*)?"([A-Z][A-Z0-9_]+)"/g;
  const codes = ["lib", "bin"].flatMap((d) => sources(join(root, d))).flatMap((f) => [...readFileSync(f, "utf8").matchAll(sites)].map((m) => (m[1] ?? m[2])!));
  t.ok(codes.length > 50, `${codes.length} raising sites found`);
  t.same(codes.filter((c) => !/^E_[A-Z0-9_]+$/.test(c)), []);
});
