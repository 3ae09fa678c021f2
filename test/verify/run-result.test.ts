// A saved run result, read back for `report`: every malformed one fails with E_RUN_RESULT naming the
// field, never a TypeError from the renderers; a path that is not a regular file is never opened.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { packageRoot } from "../../lib/package-root.js";
import { renderHtmlReport } from "../../lib/verify/html-report.js";
import { renderReport } from "../../lib/verify/report.js";
import { readRunResult, validateRunResult } from "../../lib/verify/run-result.js";

const fixture = join(packageRoot(), "test", "fixtures", "run-result.json");
const good = JSON.parse(readFileSync(fixture, "utf8")) as Record<string, unknown>;

t.test("a run result is read back and renders", async (t) => {
  const result = await readRunResult(fixture);
  t.match(renderReport(result), /verdict \(removed\)/);
  t.match(renderReport(result), /before +after\nWinoBias accuracy, pro-stereotyped \(%\) +[\d.]+ +[\d.]+\n[^]*CrowS-Pairs, stereotypical sentence likelier \(%; ideal 50\) +55\.3 +52\.7\nWinoBias: the test split, 792 pro- and 792 anti-stereotyped lines; CrowS-Pairs: 262 gender pairs\./, "the standard benchmarks before and after");
  t.match(await renderHtmlReport(result), /<p class="verdict removed">/);
});

t.test("each malformed result: one E_RUN_RESULT naming the first bad field", async (t) => {
  const copy = (): Record<string, any> => JSON.parse(JSON.stringify(good));
  const cases: [string, (r: Record<string, any>) => unknown, RegExp][] = [
    ["splits missing", (r) => delete r.after.splits, /\(after\.splits is missing\)/],
    ["edited null", (r) => (r.edited = null), /\(edited should be a list, not null\)/],
    ["a word's b a string", (r) => (r.before.words[3].b = "1.5"), /\(before\.words\[3\]\.b should be a number, not the string "1\.5"\)/],
    ["a stage's seconds missing", (r) => delete Object.values(r.cost.stages as Record<string, Record<string, unknown>>)[0]!.seconds, /\(cost\.stages\["measuring the original model"\]\.seconds is missing\)/],
    ["a template's baselines a list", (r) => (Object.values(r.before.templates as Record<string, Record<string, unknown>>)[0]!.baselines = []), /baselines should be an object, not a list/],
    ["no provenance (an older version)", (r) => delete r.provenance, /\(provenance is missing\); run it again/],
    ["a benchmark score a string", (r) => (r.benchmarks.after.crowsPairs.score = "55"), /\(benchmarks\.after\.crowsPairs\.score should be a number, not the string "55"\)/],
  ];
  for (const [what, change, message] of cases) {
    const r = copy();
    change(r);
    t.throws(() => validateRunResult(r, "r.json"), { code: "E_RUN_RESULT", message }, what);
  }
  t.throws(() => validateRunResult([], "r.json"), { code: "E_RUN_RESULT", message: /\(it should be an object, not a list\)/ });
  const nulls = copy();
  nulls.eval.kl = null; // JSON's spelling of a NaN
  t.doesNotThrow(() => validateRunResult(nulls, "r.json"), "a figure that was not a number is null, and allowed");
  const older = copy();
  delete older.benchmarks;
  t.doesNotThrow(() => validateRunResult(older, "r.json"), "a result from before benchmarks were scored is still read");
  t.notMatch(renderReport(validateRunResult(older, "r.json")), /WinoBias/, "and shows none");
});

t.test("files that are not run results", async (t) => {
  const dir = t.testdir();
  await t.rejects(readRunResult(join(dir, "nope.json")), { code: "E_FILE_NOT_FOUND" });
  writeFileSync(join(dir, "text.json"), "{ not json");
  await t.rejects(readRunResult(join(dir, "text.json")), { code: "E_RUN_RESULT", message: /is not JSON/ });
  execFileSync("mkfifo", [join(dir, "fifo")]);
  await t.rejects(readRunResult(join(dir, "fifo")), { code: "E_NOT_A_FILE", message: /^The run result .*fifo is a pipe, not a regular file\.$/ }, "a FIFO is refused, not waited on");
});
