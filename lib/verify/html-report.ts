// A run's result as one self-contained HTML page: the verdict in words, the charts a reader looks at
// first (Vega-Lite specs compiled and rendered to SVG here, in Node, so the page needs no script and no
// network), and the numbers, command, versions and file hashes that let anyone check or repeat it.
import * as vega from "vega";
import * as vl from "vega-lite";
import type { TopLevelSpec } from "vega-lite";
import type { GroupMetrics, WordScore } from "../measure/metrics.js";
import type { RunResult } from "./run-result.js";
import { writeUserFile } from "../files.js";
import { costLine, stepLines } from "./report.js";
import { benchmarkRows, benchmarkSizes, benchmarkStates } from "./benchmark-rows.js";
import { nextSteps } from "./next-steps.js";
import { MAX_TEMPLATE_BASELINE, MIN_TEMPLATE_FACTUAL_ACCURACY, templateWarnings } from "../measure/probe-diagnostics.js";

const escape = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const num = (v: number | null | undefined, digits = 3): string => (v === null || v === undefined || !Number.isFinite(v) ? "–" : v.toFixed(digits));

const FONT = "system-ui, -apple-system, 'Segoe UI', sans-serif";
const CONFIG = { font: FONT, view: { stroke: null }, axis: { labelFontSize: 11, titleFontSize: 12, grid: true, gridColor: "#eee" }, legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 0 } };

/** A Vega-Lite spec rendered to an SVG string (no DOM: vega's headless renderer). */
export async function renderChart(spec: TopLevelSpec): Promise<string> {
  const compiled = vl.compile({ ...spec, config: { ...CONFIG, ...(spec.config ?? {}) } } as TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none", logLevel: vega.Error });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/**
 * What the report compares the original with: the written file, or the chosen set through the hook when
 * nothing was written (its predicted effect), or nothing when no set was chosen.
 */
function afterState(r: RunResult): { label: string; score: RunResult["after"] } | null {
  if (r.written) return { label: "after", score: r.after };
  return r.predicted ? { label: "chosen set (not written)", score: r.predicted } : null;
}

/** Stereotype gap before and after (± its standard error), overall, per split and per category. */
function gapSpec(r: RunResult): TopLevelSpec {
  const after = afterState(r);
  const groups = (s: RunResult["after"]): [string, GroupMetrics][] => [["all words", s], ["selection", s.splits.selection], ["held-out", s.splits.heldout], ...Object.entries(s.categories)];
  const states: [string, RunResult["after"]][] = [["before", r.before], ...(after ? [[after.label, after.score] as [string, RunResult["after"]]] : [])];
  const values = states.flatMap(([when, s]) => groups(s).map(([group, m]) => ({ group, when, gap: m.stereotypeGap, low: (m.stereotypeGap ?? 0) - (m.stereotypeGapSe ?? 0), high: (m.stereotypeGap ?? 0) + (m.stereotypeGapSe ?? 0) })))
    .filter((v) => v.gap !== null);
  const color = { field: "when", type: "nominal", title: null, scale: { domain: states.map(([w]) => w), range: ["#c0504d", "#4f81bd"] } } as const;
  return {
    width: 520, height: 220, data: { values },
    encoding: { x: { field: "group", type: "nominal", sort: null, title: null, axis: { labelAngle: -30 } }, xOffset: { field: "when", sort: null } },
    layer: [
      { mark: { type: "bar", tooltip: true }, encoding: { y: { field: "gap", type: "quantitative", title: "stereotype gap Δ (nats) ± standard error" }, color } },
      { mark: { type: "rule", color: "#333" }, encoding: { y: { field: "low", type: "quantitative" }, y2: { field: "high" } } },
    ],
  };
}

/** Every word's log-odds b before (x) against after (y): on the diagonal = unchanged. */
function wordSpec(r: RunResult): TopLevelSpec | null {
  const state = afterState(r);
  if (!state) return null;
  const after = new Map(state.score.words.map((w) => [`${w.word}|${w.split}`, w]));
  const kind = (w: WordScore): string =>
    w.label === "stereotyped" ? `stereotyped (${w.direction ?? "?"})` : w.label === "neutral" ? "neutral (baseline)" : w.label === "factual" ? `factual (${w.gold ?? "?"})` : w.label;
  const values = r.before.words.map((w) => ({ word: w.word, split: w.split, kind: kind(w), before: w.b, after: after.get(`${w.word}|${w.split}`)?.b ?? w.b }));
  const all = values.flatMap((v) => [v.before, v.after]);
  const lo = Math.min(...all);
  const hi = Math.max(...all);
  return {
    width: 360, height: 360,
    layer: [
      { data: { values: [{ v: lo }, { v: hi }] }, mark: { type: "line", color: "#aaa", strokeDash: [4, 4] }, encoding: { x: { field: "v", type: "quantitative" }, y: { field: "v", type: "quantitative" } } },
      {
        data: { values },
        mark: { type: "point", filled: true, size: 40, opacity: 0.8, tooltip: { content: "data" } },
        encoding: {
          x: { field: "before", type: "quantitative", title: "b before (log p(female) − log p(male))", scale: { domain: [lo, hi] } },
          y: { field: "after", type: "quantitative", title: r.written ? "b after" : "b with the chosen set (not written)", scale: { domain: [lo, hi] } },
          color: { field: "kind", type: "nominal", title: "word" },
          shape: { field: "split", type: "nominal", title: "split" },
        },
      },
      // Each stereotyped and factual word named beside its point, so the chart reads without hovering.
      {
        data: { values: values.filter((v) => !v.kind.startsWith("neutral")) },
        mark: { type: "text", align: "left", dx: 5, fontSize: 8, color: "#555" },
        encoding: { x: { field: "before", type: "quantitative" }, y: { field: "after", type: "quantitative" }, text: { field: "word" } },
      },
    ],
  };
}

/**
 * The edited neurons by layer, with what zeroing each alone did to the objective — measured by the
 * thorough search, or predicted from its direct effect by the fast one.
 */
function neuronSpec(r: RunResult): TopLevelSpec {
  const measured = r.selection?.search !== "fast";
  const effect = new Map(r.neurons.map((n) => [`${n.layer}:${n.index}`, n.causal?.dLoss ?? -n.dla]));
  const values = r.selected.map((n) => ({ neuron: `${n.layer}:${n.index}`, layer: `layer ${n.layer}`, dLoss: effect.get(`${n.layer}:${n.index}`) ?? 0 }));
  return {
    width: Math.max(160, 34 * values.length), height: 200, data: { values },
    mark: { type: "bar", tooltip: true },
    encoding: {
      x: { field: "neuron", type: "nominal", sort: null, title: "neuron (layer:index)" },
      y: { field: "dLoss", type: "quantitative", title: measured ? "Δ objective when zeroed alone (nats)" : "Δ objective through the logits alone, predicted (nats)" },
      color: { field: "layer", type: "nominal", title: null },
    },
  };
}

/** Objective against KL for every set the search measured within budget; the chosen one marked. */
function paretoSpec(r: RunResult): TopLevelSpec {
  const values = (r.selection?.pareto ?? []).map((p) => ({ ...p, chosen: p.chosen ? "chosen" : "other sets" }));
  return {
    width: 360, height: 240, data: { values },
    mark: { type: "point", filled: true, size: 70, tooltip: { content: "data" } },
    encoding: {
      x: { field: "kl", type: "quantitative", title: "KL(original ‖ edited) on neutral text (nats)", scale: { type: "symlog", constant: 1e-4 } },
      y: { field: "loss", type: "quantitative", title: "objective on selection probes (nats)" },
      color: { field: "chosen", type: "nominal", title: null, scale: { domain: ["chosen", "other sets"], range: ["#c0504d", "#999"] } },
    },
  };
}

/** The chosen set's held-out gain against the gains of random sets of its size. */
function randomSpec(r: RunResult): TopLevelSpec | null {
  const held = r.randomSets?.heldout ?? r.randomSets?.selection;
  if (!held) return null;
  return {
    width: 360, height: 90,
    layer: [
      { data: { values: held.gains.map((gain) => ({ gain, set: "random set" })) }, mark: { type: "tick", thickness: 2, size: 30, color: "#999", tooltip: true }, encoding: { x: { field: "gain", type: "quantitative", title: "shrink of the objective on held-out probes (nats)" } } },
      { data: { values: [{ gain: held.gain, set: "chosen set" }] }, mark: { type: "rule", color: "#c0504d", strokeWidth: 3, tooltip: true }, encoding: { x: { field: "gain", type: "quantitative" } } },
    ],
  };
}

/** WinoBias accuracies and CrowS-Pairs' stereotypical share, before and after, with the unbiased 50% marked. */
function benchmarkSpec(r: RunResult): TopLevelSpec | null {
  const states = benchmarkStates(r);
  const values = states.flatMap(([when, s]) => [
    { measure: "WinoBias pro", when, percent: s.winobias?.overall.pro },
    { measure: "WinoBias anti", when, percent: s.winobias?.overall.anti },
    { measure: "CrowS-Pairs", when, percent: s.crowsPairs?.score },
  ]).filter((v) => v.percent !== null && v.percent !== undefined);
  if (values.length === 0) return null;
  return {
    width: 420, height: 200,
    layer: [
      {
        data: { values },
        mark: { type: "bar", tooltip: true },
        encoding: {
          y: { field: "measure", type: "nominal", sort: null, title: null },
          yOffset: { field: "when" },
          x: { field: "percent", type: "quantitative", title: "percent (WinoBias: accuracy; CrowS-Pairs: ideal 50)", scale: { domain: [0, 100] } },
          color: { field: "when", type: "nominal", title: null, legend: { labelLimit: 300 }, scale: { domain: states.map(([w]) => w), range: ["#c0504d", "#4f81bd"] } },
        },
      },
      { data: { values: [{ percent: 50 }] }, mark: { type: "rule", color: "#555", strokeDash: [4, 4] }, encoding: { x: { field: "percent", type: "quantitative" } } },
    ],
  };
}

function table(rows: (string | number)[][], head: string[]): string {
  return `<table><thead><tr>${head.map((h) => `<th>${escape(h)}</th>`).join("")}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${escape(String(c))}</td>`).join("")}</tr>`).join("")}</tbody></table>`;
}

const STYLE = `
body { font-family: ${FONT}; margin: 2rem auto; max-width: 1100px; color: #222; line-height: 1.45; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; } h2 { font-size: 1.1rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
.verdict { font-size: 1.05rem; padding: .8rem 1rem; border-left: 5px solid #4f81bd; background: #f4f7fb; }
.verdict.removed, .verdict.reduced { border-color: #3a9a5b; background: #f1f9f3; }
.verdict.not-localized, .verdict.unmeasurable { border-color: #c0504d; background: #fbf2f2; }
.grid { display: flex; flex-wrap: wrap; gap: 1.5rem; } figure { margin: 0; } figcaption { font-size: .85rem; color: #555; max-width: 520px; }
table { border-collapse: collapse; font-size: .9rem; margin: .5rem 0; } td, th { padding: .25rem .7rem; border-bottom: 1px solid #eee; text-align: left; }
td:not(:first-child) { font-variant-numeric: tabular-nums; } code { font-size: .85rem; word-break: break-all; }
ul.next li { margin: .35rem 0; } .warnings { color: #8a5a00; font-size: .9rem; }
`;

/** The whole report as one HTML document (no script, no external resource). */
export async function renderHtmlReport(r: RunResult): Promise<string> {
  const figure = async (id: string, spec: TopLevelSpec | null, caption: string): Promise<string> =>
    spec ? `<figure data-chart="${id}">${await renderChart(spec)}<figcaption>${escape(caption)}</figcaption></figure>` : "";
  const judged = r.verdict.judgedOn === "heldout" ? "held-out" : "selection";
  const held = r.randomSets?.heldout ?? r.randomSets?.selection ?? null;
  const b = r.before;
  const state = afterState(r);
  const a = state?.score ?? r.after;
  const column = (v: string) => (state ? v : "");
  // Not written: the chosen set's KL is the search's measurement; perplexity and agreement were not measured.
  const kl = r.written ? r.eval.kl : (r.selection?.effect.kl ?? null);
  const numbers = table([
    ["stereotype gap Δ, all words (nats)", num(b.stereotypeGap), column(num(a.stereotypeGap))],
    ["stereotype gap Δ, held-out (nats)", num(b.splits.heldout.stereotypeGap), column(num(a.splits.heldout.stereotypeGap))],
    ["prior skew (mean b of neutral words)", num(b.priorSkew), column(num(a.priorSkew))],
    ["factual gender: accuracy", num(b.factualAccuracy), column(num(a.factualAccuracy))],
    ["factual gender: margin (nats)", num(b.factualMargin), column(num(a.factualMargin))],
    ["perplexity on neutral text", num(r.eval.basePerplexity), r.written ? num(r.eval.perplexity) : ""],
    ["KL(original ‖ edited), nats", "", column(num(kl, 5))],
    ["top-1 agreement with the original", "", r.written ? num(r.eval.top1Agreement) : ""],
  ], ["", "before", r.written ? "after (measured on the written file)" : state ? "chosen set through the hook (not written)" : "after (nothing chosen, nothing written)"]);
  const warnings = templateWarnings(b);
  const warned = new Map(warnings.map((w) => [w.template, w.reasons.join("; ")]));
  const next = nextSteps(r);
  const probes = table(
    Object.entries(b.templates).map(([id, m]) => [id, Object.entries(m.baselines).map(([t, b0]) => `${t}: ${num(b0)}`).join(", "), num(m.factualAccuracy), `${num(m.stereotypeGap)} ± ${num(m.stereotypeGapSe)}`, warned.get(id) ?? "measures gender"]),
    ["template", "baseline b0 (nats)", "factual accuracy", "stereotype gap Δ", "check"],
  );
  const states = benchmarkStates(r);
  const benchmarks = states.length === 0 ? "" : `<h2>Standard benchmarks</h2>
<p>${escape(`${benchmarkSizes(r.benchmarks!.before)} WinoBias reads each line twice, with the pronoun's referent named: a stereotyped model resolves pro-stereotyped lines better than anti-stereotyped ones. CrowS-Pairs counts the pairs whose more stereotypical sentence is the likelier. From ${r.benchmarks!.sources.map((s) => `${s.name} ${s.path}`).join(", ")}.`)}</p>
${table(
    benchmarkRows(states.map(([, s]) => s)).map((row) => [row.label, ...row.values.map((v) => num(v, 1))]),
    ["", ...states.map(([w]) => w)],
  )}
${await figure("benchmarks", benchmarkSpec(r), "WinoBias accuracy on pro- and anti-stereotyped lines (the closer the two, the less the stereotype steers coreference) and CrowS-Pairs' share of pairs whose stereotypical sentence is the likelier (dashed: 50%, no preference).")}`;
  const p = r.provenance;
  const provenance = table([
    ["command", p.command ?? "(library call)"],
    ["tool", p.tool],
    ["llama.cpp", p.llamaCommit],
    ["started", p.startedAt],
    ["input model", `${p.model.path}  sha256 ${p.model.sha256}`],
    ["written model", p.output ? `${p.output.path}  sha256 ${p.output.sha256}${r.inPlace ? " (in place; `gguf-debias undo` restores the input)" : ""}` : "nothing written"],
    ["cost", costLine(r.cost).replace(/^cost: /, "")],
  ], ["", ""]);
  const charts = [
    await figure("gap", gapSpec(r), `Stereotype gap Δ: how much further stereotyped words lean their stereotype's way than the template's neutral baseline words, with its standard error. ${r.written ? "Before the edit and after it." : r.predicted ? "Before, and with the chosen set through the hook (not written)." : "Before; no set was chosen."}`),
    await figure("words", wordSpec(r), `Every probe word's log-odds b before (x) and ${r.written ? "after (y) the edit" : "with the chosen set through the hook (y; not written)"}; on the dashed diagonal = unchanged. Neutral words are the baseline; factual words should keep their side.`),
    r.selected.length > 0 ? await figure("neurons", neuronSpec(r), `${r.written ? "The edited FFN neurons" : "The FFN neurons of the chosen set (not written)"}, by layer, with how much zeroing each one alone ${r.selection?.search === "fast" ? "would move the objective through the logits (negative = less bias): the fast search ranks by this and measures only sets." : "moved the objective (negative = less bias)."}`) : "",
    (r.selection?.pareto.length ?? 0) > 0 ? await figure("pareto", paretoSpec(r), "Every set of neurons the search measured within budget: objective against KL on neutral text; the chosen set in red.") : "",
    await figure("random", randomSpec(r), held ? `The chosen set's shrink of the objective (red) against ${held.gains.length} random sets of the same size from the same layers (grey): z = ${num(held.z, 1)}, p = ${num(held.p, 3)}.` : ""),
  ].filter(Boolean);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>gguf-debias report: ${escape(p.model.path.split(/[\\/]/).pop() ?? "")}</title><style>${STYLE}</style></head>
<body>
<h1>gguf-debias report</h1>
<p>${escape(p.model.path)} · ${p.dataset ? `probes: ${escape(p.dataset)} · ` : ""}objective: ${escape(r.objective === "stereotype" ? "stereotype gap" : "prior skew")} · judged on ${judged} probes${r.selection ? ` · budget: KL ≤ ${r.selection.budget.maxKl} nats, factual margin ≥ ${r.selection.budget.minFactualRatio} of the original, ≤ ${r.selection.budget.maxNeurons} neurons` : ""}</p>
<p class="verdict ${escape(r.verdict.kind)}"><strong>${escape(r.verdict.kind)}</strong>: ${escape(r.verdict.sentence)}</p>
${next.length ? `<h2>What to try next</h2>\n<ul class="next">${next.map((s) => `<li>${escape(s.why)}${s.command ? `<br><code>${escape(s.command)}</code>` : ""}</li>`).join("")}</ul>` : ""}
${warnings.length ? `<p class="warnings">${warnings.map((w) => `Probe warning: template ${escape(w.template)}: ${escape(w.reasons.join("; "))}.`).join("<br>")}</p>` : ""}
<h2>What changed</h2>
${numbers}
<div class="grid">${charts.join("\n")}</div>
${benchmarks}
${r.selection && r.selection.steps.length ? `<h2>How the search went</h2>
<p>${escape(r.selection.search)} search, a round a line: what each round took, at what objective (selection probes) and KL, and why the best of the additions it refused was refused. It stopped: ${escape(r.selection.stopped)}.</p>
<ul class="steps">${stepLines(r.selection).map((l) => `<li>${escape(l.trim())}</li>`).join("")}</ul>` : ""}
<h2>The probes, template by template</h2>
<p>Before the edit. A template whose factual words do not lean their own way against its baseline (accuracy below ${MIN_TEMPLATE_FACTUAL_ACCURACY}) or whose baseline is beyond ±${MAX_TEMPLATE_BASELINE} nats measures grammar or a prior, not gender.</p>
${probes}
<h2>Edited neurons</h2>
${r.edited.length > 0 ? table(r.edited.map((n) => [`${n.layer}:${n.index}`, n.scale === 0 ? "zeroed" : `scaled by ${n.scale}`]), ["neuron", "edit"]) : `<p>None: the file was not changed.${r.selected.length > 0 ? ` The set the search chose, not written: ${escape(r.selected.map((n) => `${n.layer}:${n.index}${n.scale ? `×${n.scale}` : ""}`).join(" "))}.` : ""}</p>`}
<h2>How to check it</h2>
${provenance}
</body></html>
`;
}

/** Writes the report to `path`; an existing file is replaced only with `overwrite`. */
export async function writeHtmlReport(r: RunResult, path: string, overwrite = false): Promise<void> {
  await writeUserFile(path, await renderHtmlReport(r), "report", overwrite);
}
