// The frontier on real weights: how much of the held-out stereotype gap zeroing FFN neurons can remove
// at each KL budget, mapped by the reference search (exhaustive, up to --max-neurons 64), next to what
// the default searches reach at the same budgets. The reference walks once (its walk does not depend on
// the budget); the best set it walked through within each budget is then measured on held-out probes.
//   node dist/bench/frontier.js [model.gguf] [--budgets 0.01,0.02,0.05,0.1] [--max-neurons 64] [--searches fast,thorough]
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { interventionsFor } from "../lib/locate/neurons.js";
import { packageRoot } from "../lib/package-root.js";
import { run } from "../lib/pipeline.js";
import { scoreOriginal, withSession } from "../lib/measure/session.js";
import type { RunResult } from "../lib/verify/run-result.js";
import { defaultWorkload } from "../lib/measure/workload.js";
import type { GroupMetrics } from "../lib/measure/metrics.js";
import { stepSet, type SearchKind } from "../lib/select/selection.js";

const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
};
const budgets = option("budgets", "0.01,0.02,0.05,0.1").split(",").map(Number);
const maxNeurons = Number(option("max-neurons", "64"));
const searches = option("searches", "fast,thorough").split(",").filter(Boolean) as SearchKind[];
const model = args.find((a, i) => !a.startsWith("--") && !args[i - 1]?.startsWith("--")) ?? join(packageRoot(), "..", "shared", "models", "TinyStories-656K.f16.gguf");
if (!existsSync(model)) {
  console.log(`no model at ${model}: ../shared/models is absent and none was named`);
  process.exit(0);
}
const workload = await defaultWorkload(join(packageRoot(), "data", "tinystories.json"));
const scratch = mkdtempSync(join(tmpdir(), "gguf-debias-bench-frontier-"));
const evaluator = { threads: 1 };
const f3 = (v: number | null) => (v === null ? "–" : v.toFixed(3));
const change = (a: number | null, b: number | null) => (a && b !== null ? `${b / a - 1 >= 0 ? "+" : "−"}${Math.abs(100 * (b / a - 1)).toFixed(1)}%` : "–");
const line = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;

try {
  const t0 = performance.now();
  const reference = await run(model, workload, { output: join(scratch, "reference.gguf"), search: "exhaustive", maxKl: Math.max(...budgets), maxNeurons, evaluator });
  const seconds = (performance.now() - t0) / 1000;
  // the sets the walk went through
  const steps = reference.selection?.steps ?? [];
  const walk = (reference.selection?.walk ?? []).map((i) => ({ neurons: stepSet(steps, steps[i]!), loss: steps[i]!.loss, kl: steps[i]!.kl, factualMargin: steps[i]!.factualMargin }));
  const before = reference.before.splits.heldout;
  const margin0 = reference.before.factualMargin ?? 0;
  console.log(`reference (exhaustive, ≤ ${maxNeurons} neurons): a walk through ${walk.length} sets, ${reference.cost.passes} passes, ${seconds.toFixed(0)} s; held-out gap ${f3(before.stereotypeGap)} ± ${f3(before.stereotypeGapSe)}, factual margin ${f3(margin0)}`);
  const minFactual = reference.selection?.budget.minFactualRatio ?? 0.8;
  const chosenAt = (budget: number) => [...walk].filter((w) => w.kl <= budget && w.factualMargin >= minFactual * (reference.before.splits.selection.factualMargin ?? 0)).sort((a, b) => a.loss - b.loss)[0];
  const measured = await withSession(model, workload, evaluator, async (session) => {
    const { scoreOptions } = await scoreOriginal(session);
    const out = new Map<number, GroupMetrics & { all: number | null }>();
    for (const budget of budgets) {
      const set = chosenAt(budget);
      if (!set) continue;
      const score = session.probes.scoreOf(await session.probes.measure(session.evaluator, interventionsFor(set.neurons)), scoreOptions);
      out.set(budget, { ...score.splits.heldout, all: score.factualMargin });
    }
    return out;
  });
  const rows = [line(["KL budget", "search", "neurons", "held-out gap", "factual margin (all words)", "KL", "passes"]), line(["---", "---", "---", "---", "---", "---", "---"])];
  for (const budget of budgets) {
    const set = chosenAt(budget);
    const m = measured.get(budget);
    rows.push(line([budget, "exhaustive (frontier)", set?.neurons.length ?? 0, m ? `${f3(m.stereotypeGap)} (${change(before.stereotypeGap, m.stereotypeGap)})` : "nothing within it", m ? `${f3(m.all)} (${change(margin0, m.all)})` : "–", set ? set.kl.toExponential(2) : "–", "(one walk)"]));
    for (const search of searches) {
      const r: RunResult = await run(model, workload, { output: join(scratch, `${search}.${budget}.gguf`), overwrite: true, search, maxKl: budget, evaluator });
      const after = (r.predicted ?? r.after).splits.heldout;
      const margin = (r.predicted ?? r.after).factualMargin;
      rows.push(line([budget, `${search} → ${r.verdict.kind}`, r.selected.length, `${f3(after.stereotypeGap)} (${change(before.stereotypeGap, after.stereotypeGap)})`, `${f3(margin)} (${change(margin0, margin)})`, r.selection ? r.selection.effect.kl.toExponential(2) : "–", r.cost.passes.toFixed(1)]));
      console.log(rows.at(-1));
    }
  }
  console.log(`\n${rows.join("\n")}`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
