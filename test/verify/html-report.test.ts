// The HTML report as a reader gets it: one file that opens offline in a real browser (Debian's
// Chromium driven by puppeteer-core), with every chart drawn from the run's own numbers and nothing
// fetched from anywhere. The run result is test/fixtures/run-result.json (see the recipe README).
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import puppeteer from "puppeteer-core";
import t, { type Tap } from "tap";
import type { RunResult } from "../../lib/verify/run-result.js";
import { packageRoot } from "../../lib/package-root.js";
import { renderHtmlReport, writeHtmlReport } from "../../lib/verify/html-report.js";

const result = JSON.parse(readFileSync(join(packageRoot(), "test", "fixtures", "run-result.json"), "utf8")) as RunResult;
const CHROMIUM = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].find((p) => p && existsSync(p));

/** Marks each chart must hold: one per datum, from the result itself. */
function expectedMarks(r: RunResult): Record<string, number> {
  const gaps = [r.before, r.before.splits.selection, r.before.splits.heldout, ...Object.values(r.before.categories)].filter((m) => m.stereotypeGap !== null).length;
  const named = r.before.words.filter((w) => w.label !== "neutral").length;
  return {
    gap: 2 * 2 * gaps, // a bar and its standard-error rule, before and after
    words: r.before.words.length + 1 + named, // one point per word and split, the diagonal, and the stereotyped and factual words named
    neurons: r.selected.length,
    pareto: r.selection!.pareto.length,
    random: r.randomSets!.heldout!.gains.length + 1, // a tick per random set, the chosen set's rule
    benchmarks: 2 * 3 + 1, // WinoBias pro and anti and CrowS-Pairs, before and after; the 50% rule
  };
}

t.test("the report is one file: no script, nothing to fetch", async (t) => {
  const html = await renderHtmlReport(result);
  t.notMatch(html, /<script|<link|<img|\b(?:src|href)\s*=\s*["']?(?:https?:)?\/\//i, "no script, stylesheet, image or URL to load");
  t.match(html, new RegExp(result.verdict.sentence.slice(0, 40).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")), "the verdict in words");
  for (const v of [result.provenance.command!, result.provenance.model.sha256, result.provenance.output!.sha256, result.provenance.llamaCommit, result.provenance.tool]) t.ok(html.includes(v), `carries ${v.slice(0, 40)}`);
  const dir = t.testdir();
  const path = join(dir, "report.html");
  await writeHtmlReport(result, path);
  await t.rejects(writeHtmlReport(result, path), { code: "E_DST_EXISTS" }, "never replaced unasked");
  await t.rejects(writeHtmlReport(result, join(dir, "missing", "r.html")), { code: "E_DST_DIR" });
});

/** The report opened offline in Chromium: marks per chart, whether every chart has a size, what was fetched, what went wrong; a screenshot kept in test-artifacts/. */
async function inChromium(t: Tap.Test, r: RunResult, shotName: string): Promise<{ marks: Record<string, number>; sized: boolean; fetched: string[]; problems: string[]; shot: string }> {
  const dir = t.testdir();
  const path = join(dir, "report.html");
  writeFileSync(path, await renderHtmlReport(r));
  const browser = await puppeteer.launch({ executablePath: CHROMIUM!, args: ["--no-sandbox", "--disable-gpu"] });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1100, height: 900 });
    const problems: string[] = [];
    const fetched: string[] = [];
    page.on("console", (m) => void (["error", "warn"].includes(m.type()) && problems.push(`${m.type()}: ${m.text()}`)));
    page.on("pageerror", (e) => void problems.push(`page error: ${(e as Error).message}`));
    await page.setRequestInterception(true);
    page.on("request", (req) => {
      if (req.url().startsWith("file:")) return void req.continue();
      fetched.push(req.url());
      void req.abort();
    });
    await page.goto(pathToFileURL(path).href, { waitUntil: "load" });
    const marks = await page.evaluate(() => Object.fromEntries([...document.querySelectorAll("figure[data-chart]")].map((f) => [
      (f as HTMLElement).dataset.chart!,
      [...f.querySelectorAll("g.role-mark")].reduce((n, g) => n + g.children.length, 0),
    ])));
    const sized = await page.evaluate(() => [...document.querySelectorAll("figure svg")].every((s) => s.getBoundingClientRect().width > 100 && s.getBoundingClientRect().height > 50));
    const artifacts = join(packageRoot(), "test-artifacts");
    mkdirSync(artifacts, { recursive: true });
    const shot = join(artifacts, shotName);
    await page.screenshot({ path: shot, fullPage: true, type: "jpeg", quality: 70 });
    return { marks, sized, fetched, problems, shot };
  } finally {
    await browser.close();
  }
}

/** The fixture run as if nothing had been written: the chosen set known only through the hook. */
function notWrittenResult(): RunResult {
  const r: RunResult = { ...JSON.parse(JSON.stringify(result)), written: false, after: result.before, edited: [], eval: { ...result.eval, kl: 0, perplexity: result.eval.basePerplexity, top1Agreement: 1 } };
  r.verdict = { ...result.verdict, kind: "not-localized", sentence: "Nothing was written." };
  r.benchmarks = { ...r.benchmarks!, after: null };
  return r;
}

t.test("in Chromium, offline: every chart is drawn with one mark per datum, and nothing goes wrong", async (t) => {
  if (!CHROMIUM) return t.skip("Chromium is not installed (Debian: apt-get install chromium; or set CHROMIUM_PATH): the report was not opened in a browser");
  for (const [name, r, shotName] of [["written", result, "report.jpg"], ["nothing written", notWrittenResult(), "report-not-written.jpg"]] as const) {
    const seen = await inChromium(t, r, shotName);
    t.same(seen.marks, expectedMarks(r), `${name}: one mark per datum in each chart`);
    t.ok(seen.sized, `${name}: every chart has a visible size`);
    t.same(seen.fetched, [], `${name}: nothing was fetched from the network`);
    t.same(seen.problems, [], `${name}: no console errors or page errors`);
    t.ok(statSync(seen.shot).size > 10_000, `${name}: screenshot kept at ${seen.shot} (${Math.round(statSync(seen.shot).size / 1024)} KB)`);
  }
});

t.test("when nothing is written the report shows the chosen set's predicted effect, never a chart of nothing", async (t) => {
  const notWritten = notWrittenResult();
  const moved = notWritten.predicted!.words.filter((w, i) => Math.abs(w.b - notWritten.before.words[i]!.b) > 1e-3).length;
  t.ok(moved > notWritten.before.words.length / 4, `the word chart plots the chosen set's b, off the diagonal for ${moved} of ${notWritten.before.words.length} words`);
  const html = await renderHtmlReport(notWritten);
  t.match(html, /chosen set through the hook \(not written\)/, "the numbers compare the original with the chosen set");
  t.ok(html.includes(result.predicted!.splits.heldout.stereotypeGap!.toFixed(3)), "the predicted held-out gap is shown");
  t.match(html, /The set the search chose, not written: \d+:\d+/);
  t.match(html, /The FFN neurons of the chosen set \(not written\)/);
  t.match(html, /<h2>What to try next<\/h2>/);
  t.match(html, /<h2>How the search went<\/h2>[^]*<li>round 1: took \+\d+ neurons/, "the search's steps with their reasons");
  const nothing: RunResult = { ...notWritten, predicted: null, selected: [], selection: null, randomSets: null };
  const bare = await renderHtmlReport(nothing);
  t.notMatch(bare, /data-chart="words"/, "no set chosen: no before/after chart of identical points");
  t.match(bare, /Before; no set was chosen\./);
});
