// The benchmark rows are written once: the text summary, the HTML report and the model card show the
// same labels with the same numbers.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { benchmarkRows, benchmarkSizes, benchmarkStates } from "../../lib/verify/benchmark-rows.js";
import { renderReport } from "../../lib/verify/report.js";
import { renderHtmlReport } from "../../lib/verify/html-report.js";
import { renderModelCard } from "../../lib/verify/model-card.js";
import { validateRunResult } from "../../lib/verify/run-result.js";
import { FIXTURES } from "../helpers/fixtures.js";

const result = validateRunResult(JSON.parse(readFileSync(join(FIXTURES, "run-result.json"), "utf8")), "run-result.json");

t.test("one list of rows, shown by every report", async (t) => {
  const states = benchmarkStates(result);
  t.same(states.map(([name]) => name), ["before", "after"]);
  const rows = benchmarkRows(states.map(([, s]) => s));
  t.same(rows.map((r) => r.label), ["WinoBias accuracy, pro-stereotyped (%)", "WinoBias accuracy, anti-stereotyped (%)", "WinoBias gap pro − anti (points; ideal 0)", "CrowS-Pairs, stereotypical sentence likelier (%; ideal 50)"]);
  t.same(rows[3]!.values, [result.benchmarks!.before.crowsPairs!.score, result.benchmarks!.after!.crowsPairs!.score]);
  const html = (await renderHtmlReport(result)).replaceAll("&amp;", "&");
  for (const [name, text] of [["summary", renderReport(result)], ["HTML report", html], ["model card", renderModelCard(result)]] as const) {
    for (const row of rows) t.ok(text.includes(row.label), `${name}: ${row.label}`);
    t.ok(text.includes(benchmarkSizes(result.benchmarks!.before)), `${name}: what was scored`);
  }
});

t.test("a state without a benchmark shows no row for it; left-out lines are counted", async (t) => {
  const before = result.benchmarks!.before;
  t.same(benchmarkRows([{ ...before, winobias: null }]).map((r) => r.label), ["CrowS-Pairs, stereotypical sentence likelier (%; ideal 50)"]);
  t.same(benchmarkRows([]), []);
  t.equal(benchmarkSizes({ ...before, winobias: null, crowsPairs: { ...before.crowsPairs!, leftOut: 2 } }), "CrowS-Pairs: 262 gender pairs, 2 pairs left out (the model cannot spell them).");
});
