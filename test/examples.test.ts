// Every example in the README is a file that runs: here, installed the way a user has it (the package
// resolved by name from node_modules), on the small model shipped with the package.
import { execFile } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import t from "tap";
import { packageRoot } from "../lib/package-root.js";

t.test("the README's library example runs and says what it did", async (t) => {
  const app = t.testdir();
  mkdirSync(join(app, "node_modules"));
  symlinkSync(packageRoot(), join(app, "node_modules", "gguf-debias"), "dir");
  writeFileSync(join(app, "package.json"), JSON.stringify({ type: "module" }));
  const example = readFileSync(join(packageRoot(), "examples", "library.mjs"), "utf8");
  t.ok(readFileSync(join(packageRoot(), "README.md"), "utf8").includes(example.slice(example.indexOf("import {"))), "the README shows the file as it is");
  copyFileSync(join(packageRoot(), "examples", "library.mjs"), join(app, "library.mjs"));
  const { stdout } = await promisify(execFile)(process.execPath, ["library.mjs"], { cwd: app });
  t.match(stdout, /^removed Editing \d+ FFN neurons narrowed the stereotype gap/m);
  t.match(stdout, /held-out stereotype gap 0\.9\d+ → 0\.0\d+/);
  t.match(stdout, /log p\(she\) \[ -?\d/);
  t.ok(existsSync(join(app, "debiased.gguf")), "the edited model was written where asked");
});

t.test("an ES module only: CommonJS is told to import it, and import() from CommonJS works", async (t) => {
  const app = t.testdir({ "package.json": JSON.stringify({ type: "commonjs" }) });
  mkdirSync(join(app, "node_modules"));
  symlinkSync(packageRoot(), join(app, "node_modules", "gguf-debias"), "dir");
  const err = await promisify(execFile)(process.execPath, ["-e", 'require("gguf-debias")'], { cwd: app }).then(() => null, (e: { code: number; stderr: string }) => e);
  t.ok(err, "require() fails");
  t.match(err!.stderr, /gguf-debias is an ES module and cannot be require\(\)d: use `import/);
  t.match(err!.stderr, /E_ESM_ONLY/);
  const { stdout } = await promisify(execFile)(process.execPath, ["-e", 'import("gguf-debias").then((m) => console.log(typeof m.run, typeof m.DebiasModel))'], { cwd: app });
  t.equal(stdout.trim(), "function function");
});
