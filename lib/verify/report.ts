// The human summary of a run: what was measured before and after, on which probes, against what random
// edits do, at what cost, and the verdict in one sentence.
import type { GroupMetrics } from "../measure/metrics.js";
import type { BenchmarkScores } from "../measure/standard-benchmarks.js";
import { templateWarnings } from "../measure/probe-diagnostics.js";
import type { RunResult } from "./run-result.js";
import type { Selection } from "../select/selection.js";
import { count } from "../text.js";
import { nextSteps } from "./next-steps.js";
import { benchmarkRows, benchmarkSizes, benchmarkStates } from "./benchmark-rows.js";

export const fixed = (v: number | null | undefined, digits = 4): string => (v === null || v === undefined ? "—" : v.toFixed(digits));

/** Rows under a header row: columns of numbers aligned right, of words left. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  const numeric = rows[0]!.map((_, c) => c > 0 && rows.slice(1).every((r) => /^([-+−]?[\d.,]+(e[-+]?\d+)?%?|—)?$/.test(r[c] ?? "")));
  return rows.map((r) => r.map((cell, c) => (numeric[c] ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join("  ").trimEnd()).join("\n");
}

export function renderReport(result: RunResult): string {
  const pair = (label: string, get: (m: GroupMetrics) => number | null, digits = 3) => (m0: GroupMetrics, m1: GroupMetrics) => [label, fixed(get(m0), digits), fixed(get(m1), digits)];
  const rows = (name: string, m0: GroupMetrics, m1: GroupMetrics) => [
    [`${name}`, "before", result.written ? "after" : "(unchanged)"],
    pair("  stereotype gap Δ (nats)", (m) => m.stereotypeGap)(m0, m1),
    pair("  prior skew (mean b of neutral words)", (m) => m.priorSkew)(m0, m1),
    pair("  residual |b − baseline|", (m) => m.residual)(m0, m1),
    pair("  mean |b| of stereotyped words", (m) => m.bias)(m0, m1),
    pair("  factual accuracy", (m) => m.factualAccuracy)(m0, m1),
    pair("  factual margin (nats)", (m) => m.factualMargin)(m0, m1),
  ];
  const lines = [
    result.written ? `gguf-debias run → ${result.file}` : `gguf-debias run: ${result.file} (nothing written)`,
    table([...rows("held-out probes", result.before.splits.heldout, result.after.splits.heldout), ...rows("selection probes", result.before.splits.selection, result.after.splits.selection)]),
  ];
  if (result.written) {
    lines.push(`neutral text: KL(original ‖ edited) ${fixed(result.eval.kl, 5)} nats, top-1 agreement ${fixed(100 * result.eval.top1Agreement, 1)}%, perplexity ${fixed(result.eval.perplexity, 3)} (was ${fixed(result.eval.basePerplexity, 3)})`);
  }
  if (result.selection) {
    const kinds = (kind: string) => result.neurons.filter((n) => n.kind === kind).length;
    lines.push(
      result.locate
        ? `located (thorough search): ${count(result.neurons.length, "candidate")} zeroed one by one — ${kinds("gender")} gender, ${kinds("general")} general, ${kinds("other")} other; ${count(result.locate.noise.n, "random neuron")} zeroed the same way move the objective by ±${fixed(result.locate.noise.dLossStd)} nats (noise floor ${fixed(result.locate.noise.noiseFloor)})`
        : `ranked (fast search): ${count(result.neurons.length, "candidate")} by their direct effect on the objective; only sets of them were measured (${count(result.selection.passes, "set")})`,
    );
    const chosen = result.selection.pareto.find((p) => p.chosen);
    const taken = result.selection.steps.filter((s) => s.accepted).length;
    lines.push(
      `selected ${count(result.selected.length, "neuron")}, the best set within the budget among the ${count(taken, "step")} the search took (it stopped: ${result.selection.stopped})${result.selected.length ? `: ${result.selected.map((n) => `${n.layer}:${n.index}${n.scale ? `×${n.scale}` : ""}`).join(" ")}` : ""}${result.written ? "" : " — not written"}`,
      ...stepLines(result.selection),
      `budget: KL ≤ ${result.selection.budget.maxKl}, factual margin ≥ ${result.selection.budget.minFactualRatio} of the original, ≤ ${count(result.selection.budget.maxNeurons, "neuron")}${chosen ? `; on the selection probes the set leaves ${fixed(chosen.loss)} nats at KL ${fixed(chosen.kl, 5)}` : ""}`,
    );
  }
  if (result.randomSets?.heldout ?? result.randomSets?.selection) {
    const r = result.randomSets!;
    const s = (r.heldout ?? r.selection)!;
    // With n random sets the smallest p there is is 1/(n+1): a small n caps it, however large z is.
    lines.push(`against ${count(r.sets, `random set of ${count(r.size, "neuron")}`, `random sets of ${count(r.size, "neuron")}`)} (same layers): gain ${fixed(s.gain)} vs ${fixed(s.randomMean)} ± ${fixed(s.randomStd)} nats, z ${fixed(s.z, 1)}, p ${fixed(s.p, 3)} (${r.heldout ? "held-out" : "selection"} probes; with ${r.sets} random sets p cannot go below 1/${r.sets + 1} = ${fixed(1 / (r.sets + 1), 3)}, so z decides)`);
  }
  if (result.benchmarks) lines.push(benchmarkTable(benchmarkStates(result)));
  for (const w of templateWarnings(result.before)) lines.push(`probe warning: template ${w.template}: ${w.reasons.join("; ")}`);
  lines.push(`verdict (${result.verdict.kind}): ${result.verdict.sentence}`);
  const next = nextSteps(result);
  if (next.length) lines.push(["what to try next:", ...next.map((s) => `  - ${s.why}${s.command ? `:\n      ${s.command}` : ""}`)].join("\n"));
  if (result.written && result.inPlace) lines.push(`the model was edited in place; to restore it byte for byte: gguf-debias undo ${result.file}`);
  lines.push(costLine(result.cost));
  return lines.join("\n");
}

/** The benchmarks side by side for each model state, and what was scored. */
export function benchmarkTable(columns: readonly (readonly [string, BenchmarkScores])[]): string {
  const rows = benchmarkRows(columns.map(([, s]) => s)).map((r) => [r.label, ...r.values.map((v) => fixed(v, 1))]);
  return `${table([["", ...columns.map(([name]) => name)], ...rows])}
${benchmarkSizes(columns[0]![1])}`;
}

/**
 * The search's walk, a line a round: what it took and at what objective and KL, and why the other tries
 * were not taken (the closest refused one's reason, verbatim).
 */
export function stepLines(selection: Pick<Selection, "steps">): string[] {
  const rounds = [...new Set(selection.steps.map((s) => s.round))];
  return rounds.map((round) => {
    const tries = selection.steps.filter((s) => s.round === round);
    const took = tries.find((s) => s.accepted);
    const refused = tries.filter((s) => !s.accepted && s.reason).sort((a, b) => a.loss - b.loss);
    const passed = tries.length - refused.length - (took ? 1 : 0);
    const closest = refused[0];
    const what = took
      ? `took +${count(took.added.length, "neuron")} (${took.added.map((n) => `${n.layer}:${n.index}`).join(" ")}) → ${fixed(took.loss, 3)} nats at KL ${fixed(took.kl, 5)}`
      : "took nothing";
    const others = [
      ...(passed > 0 ? [`${passed} passed but ${passed === 1 ? "was" : "were"} not taken (the walk takes the smallest addition that brings nearly the most)`] : []),
      ...(closest ? [`${refused.length} refused — the best of them (+${count(closest.added.length, "neuron")}, ${fixed(closest.loss, 3)} nats) because ${closest.reason}`] : []),
    ];
    return `  round ${round}: ${what}${others.length ? `; of ${took ? "the other" : "its"} ${count(tries.length - (took ? 1 : 0), "try", "tries")}, ${others.join("; ")}` : ""}`;
  });
}

/** The cost in one line: passes, tokens, seconds and peak memory, then per stage. */
export function costLine(cost: RunResult["cost"]): string {
  const stages = Object.entries(cost.stages);
  const total = stages.reduce((sum, [, s]) => sum + s.seconds, 0);
  const each = stages.map(([name, s]) => `${name} ${s.passes} passes, ${s.seconds.toFixed(1)} s`);
  return `cost: ${cost.passes} probe passes (${cost.tokens.toLocaleString("en")} tokens), ${total.toFixed(1)} s, peak memory ${(cost.peakRssBytes / 2 ** 20).toFixed(0)} MiB${each.length ? ` — ${each.join("; ")}` : ""}`;
}
