// The human summary of a run: what was measured before and after, on which words, at what cost, and the
// verdict in one sentence.
import type { GroupMetrics } from "./bias/metrics.js";
import type { RunResult } from "./pipeline.js";

export const fixed = (v: number | null | undefined, digits = 4): string => (v === null || v === undefined ? "—" : v.toFixed(digits));

export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  ")).join("\n");
}

export function renderReport(result: RunResult): string {
  const pair = (label: string, get: (m: GroupMetrics) => number | null, digits = 4) => (m0: GroupMetrics, m1: GroupMetrics) => [label, fixed(get(m0), digits), fixed(get(m1), digits)];
  const rows = (name: string, m0: GroupMetrics, m1: GroupMetrics) => [
    [`${name}`, "before", "after"],
    pair("  stereotyped bias (mean |b|, nats)", (m) => m.bias)(m0, m1),
    pair("  share of words with |b| > ln 2", (m) => m.biasedFraction, 3)(m0, m1),
    pair("  factual accuracy", (m) => m.factualAccuracy, 3)(m0, m1),
    pair("  factual margin (nats)", (m) => m.factualMargin)(m0, m1),
  ];
  const kinds = (kind: string) => result.neurons.filter((n) => n.kind === kind).length;
  return [
    `gguf-debias run → ${result.file}`,
    table([...rows("held-out words", result.before.splits.heldout, result.after.splits.heldout), ...rows("selection words", result.before.splits.selection, result.after.splits.selection)]),
    `neutral text: KL(original ‖ edited) ${fixed(result.eval.kl, 5)} nats, top-1 agreement ${fixed(100 * result.eval.top1Agreement, 1)}%, perplexity ${fixed(result.eval.perplexity, 3)} (was ${fixed(result.eval.basePerplexity, 3)})`,
    `located: ${kinds("gender")} gender, ${kinds("general")} general (never edited), ${kinds("other")} other neurons; a random neuron moves the bias by ±${fixed(result.locate.noise.dBiasStd)} nats`,
    `edited ${result.edited.length} neurons${result.edited.length ? `: ${result.edited.map((n) => `${n.layer}:${n.index}${n.scale ? `×${n.scale}` : ""}`).join(" ")}` : ""} (budget: KL ≤ ${result.selection.budget.maxKl}, factual margin ≥ ${result.selection.budget.minFactualRatio} of original, ≤ ${result.selection.budget.maxNeurons} neurons)`,
    `verdict (${result.verdict.kind}): ${result.verdict.sentence}`,
  ].join("\n");
}
