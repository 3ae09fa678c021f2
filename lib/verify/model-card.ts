// The model card: what a person publishing the edited GGUF pastes next to it, in Markdown — the verdict,
// the numbers before and after, the damage budget, the edited neurons, the standard benchmarks, and
// the command, versions and hashes that let anyone check or repeat the edit.
import type { GroupMetrics } from "../measure/metrics.js";
import type { RunResult } from "./run-result.js";
import { benchmarkRows, benchmarkSizes, benchmarkStates } from "./benchmark-rows.js";

const num = (v: number | null | undefined, digits = 3): string => (v === null || v === undefined || !Number.isFinite(v) ? "–" : v.toFixed(digits));
/** A Markdown table cell: pipes escaped, one line. */
const cell = (s: string): string => s.replace(/\|/g, "\\|").replace(/\n/g, " ");
const row = (cells: readonly string[]): string => `| ${cells.map(cell).join(" | ")} |`;
const mdTable = (head: readonly string[], rows: readonly (readonly string[])[]): string => [row(head), row(head.map(() => "---")), ...rows.map(row)].join("\n");
const baseName = (path: string): string => path.split(/[\\/]/).pop() ?? path;

export function renderModelCard(r: RunResult): string {
  const p = r.provenance;
  // After: the written file; when nothing was written, the chosen set through the hook, said so.
  const after = r.written ? r.after : r.predicted;
  const afterHead = r.written ? "after (measured on the written file)" : after ? "chosen set (not written)" : "after";
  const metric = (label: string, get: (m: GroupMetrics) => number | null) => [label, num(get(r.before)), after ? num(get(after)) : "–"];
  const held = (label: string, get: (m: GroupMetrics) => number | null) => [label, num(get(r.before.splits.heldout)), after ? num(get(after.splits.heldout)) : "–"];
  const lines = [
    `# ${baseName(p.output?.path ?? p.model.path)}`,
    "",
    r.written
      ? `${baseName(p.model.path)} with ${r.edited.length} FFN neurons ${r.edited.every((n) => n.scale === 0) ? "zeroed" : "edited"} by ${p.tool} to reduce a gender ${r.objective === "prior" ? "prior skew" : "stereotype"}.`
      : `gguf-debias measured ${baseName(p.model.path)} and wrote no edited model.`,
    "",
    `**Verdict: ${r.verdict.kind}.** ${r.verdict.sentence}`,
    "",
    "## Bias and capability",
    "",
    `Log-odds b = log p(female) − log p(male) in nats over the probe words${p.dataset ? ` of the \`${p.dataset}\` dataset` : ""}; the stereotype gap is how much further stereotyped words lean their stereotype's way than each template's neutral baseline words. Held-out probes (words and templates the search never saw) judge the edit.`,
    "",
    mdTable(["", "before", afterHead], [
      held("stereotype gap, held-out probes (nats)", (m) => m.stereotypeGap),
      metric("stereotype gap, all probes (nats)", (m) => m.stereotypeGap),
      metric("prior skew (mean b of neutral words)", (m) => m.priorSkew),
      metric("factual gender: accuracy", (m) => m.factualAccuracy),
      metric("factual gender: margin (nats)", (m) => m.factualMargin),
      ...(r.written ? [
        ["perplexity on neutral text", num(r.eval.basePerplexity), num(r.eval.perplexity)],
        ["KL(original ‖ edited) on neutral text (nats)", "", num(r.eval.kl, 5)],
        ["top-1 agreement with the original", "", num(r.eval.top1Agreement)],
      ] : []),
    ]),
  ];
  if (r.randomSets?.heldout ?? r.randomSets?.selection) {
    const s = (r.randomSets.heldout ?? r.randomSets.selection)!;
    lines.push("", `Against ${r.randomSets.sets} random sets of ${r.randomSets.size} neurons from the same layers: gain ${num(s.gain, 4)} nats against ${num(s.randomMean, 4)} ± ${num(s.randomStd, 4)} (z ${num(s.z, 1)}).`);
  }
  if (r.benchmarks) {
    const states = benchmarkStates(r);
    const rows = benchmarkRows(states.map(([, s]) => s)).map((row) => [row.label, ...row.values.map((v) => num(v, 1))]);
    lines.push("", "## Standard benchmarks", "", mdTable(["", ...states.map(([w]) => w)], rows), "", benchmarkSizes(r.benchmarks.before));
  }
  if (r.selection) {
    const budget = r.selection.budget;
    lines.push("", "## Damage budget", "", `KL(original ‖ edited) on neutral text ≤ ${budget.maxKl} nats; factual margin ≥ ${budget.minFactualRatio} of the original; at most ${budget.maxNeurons} neurons. Search: ${r.selection.search}.`);
  }
  lines.push("", "## Edited neurons", "");
  if (r.edited.length) {
    lines.push(mdTable(["layer", "neuron", "edit"], r.edited.map((n) => [String(n.layer), String(n.index), n.scale === 0 ? "zeroed" : `scaled by ${n.scale}`])));
    lines.push("", `Each edit is written into \`blk.<layer>.ffn_*\` rows or columns of the GGUF file; ${r.inPlace ? `the input was edited in place and \`gguf-debias undo ${baseName(p.model.path)}\` restores it byte for byte` : "the input file was not changed"}.`);
  } else {
    lines.push(`None: the file was not changed.${r.selected.length ? ` The set the search chose, not written: ${r.selected.map((n) => `${n.layer}:${n.index}`).join(" ")}.` : ""}`);
  }
  lines.push("", "## Provenance", "", mdTable(["", ""], [
    ["command", p.command ? `\`${p.command}\`` : "(library call)"],
    ["tool", p.tool],
    ["llama.cpp", p.llamaCommit],
    ["run started", p.startedAt],
    ["input", `${baseName(p.model.path)}, sha256 \`${p.model.sha256}\``],
    ["output", p.output ? `${baseName(p.output.path)}, sha256 \`${p.output.sha256}\`` : "nothing written"],
  ]), "");
  return lines.join("\n");
}
