// The searches walk a path the damage budget does not shape, so a larger budget (KL, neurons) walks it
// further and never returns a set that leaves more of the objective on the selection probes.
import { hookEffects } from "../../lib/locate/causal.js";
import t, { type Test } from "tap";
import { locate, rankByDirectEffect } from "../../lib/locate/locate.js";
import { openGguf } from "../../lib/gguf/reader.js";
import { openSession, scoreOriginal } from "../../lib/measure/session.js";
import { selectionBaseline } from "../../lib/locate/baseline.js";
import { defaultWorkload } from "../../lib/measure/workload.js";
import { searchRanked } from "../../lib/select/ranked-search.js";
import { byRate, selectNeurons, type SearchResult } from "../../lib/select/selection.js";
import { fixturePath } from "../helpers/fixtures.js";

const TOTAL = 4 * 512;
const path = fixturePath("llama-localized");
const session = await openSession(path, await defaultWorkload("demo"), { threads: 1 });
t.teardown(() => session.model.dispose());
const base = await selectionBaseline(session, "stereotype", await scoreOriginal(session));

/** Each result leaves no more than the one before it (budgets ascending), and keeps inside its own budget. */
function monotone(t: Test, results: SearchResult[], what: string): void {
  results.forEach((r, i) => {
    t.ok(r.effect.kl <= r.budget.maxKl && r.neurons.length <= r.budget.maxNeurons, `${what} ${i}: ${r.neurons.length} neurons at KL ${r.effect.kl.toExponential(2)} within KL ${r.budget.maxKl}, ${r.budget.maxNeurons} neurons`);
    if (i > 0) t.ok(r.effect.loss <= results[i - 1]!.effect.loss, `${what}: a larger budget leaves ${r.effect.loss.toFixed(4)} ≤ ${results[i - 1]!.effect.loss.toFixed(4)}`);
  });
}

t.test("fast search: a larger --max-kl or --max-neurons never returns a worse set", async (t) => {
  const ranked = await rankByDirectEffect(session.model, await openGguf(path), session.evaluator, base, { candidates: 40 });
  const byKl: SearchResult[] = [];
  for (const maxKl of [1e-5, 1e-4, 3e-4, 1e-3, 0.02]) byKl.push(await searchRanked(hookEffects(session.evaluator, base), base, ranked, TOTAL, 10, { maxKl }));
  monotone(t, byKl, "max-kl");
  t.ok(byKl.at(-1)!.effect.loss < byKl[0]!.effect.loss, "the budget matters here: the largest one removes more than the smallest");
  const byCount: SearchResult[] = [];
  for (const maxNeurons of [1, 2, 4, 8, 40]) byCount.push(await searchRanked(hookEffects(session.evaluator, base), base, ranked, TOTAL, 10, { maxNeurons }));
  monotone(t, byCount, "max-neurons");
  // the walk up to where the smaller budget stopped is the same walk
  const walk = (r: SearchResult) => r.steps.filter((s) => s.accepted).map((s) => s.added.map((n) => `${n.layer}:${n.index}`).join(" "));
  t.same(walk(byKl.at(-1)!).slice(0, walk(byKl[1]!).length), walk(byKl[1]!), "the larger budget walked the same path first");
});

t.test("thorough search: the same for a larger --max-kl", async (t) => {
  const { neurons, noise } = await locate(session.model, await openGguf(path), session.evaluator, base, { candidates: 16, randomNeurons: 8, neutralCandidates: 2 });
  const results: SearchResult[] = [];
  for (const maxKl of [1e-4, 1e-3, 0.02]) results.push(await selectNeurons(hookEffects(session.evaluator, base), base, neurons, TOTAL, noise.dLossStd, { maxKl }));
  monotone(t, results, "max-kl");
  t.equal(results[0]!.search, "thorough");
});

t.test("candidates are ranked by gain per nat of KL, free ones by gain", async (t) => {
  const n = (index: number, loss: number, kl: number) => ({ neuron: { layer: 0, index }, loss, kl });
  const current = { loss: 1, kl: 0.001 };
  // gains 0.2 at KL +0.01 (rate 20); 0.1 at +0.0005 and 0.05 at +0: below the 0.001-nat floor, so by
  // gain (100 and 50); 0.3 at +0.1 (3); one that adds bias is left out
  const ranked = byRate([n(0, 0.8, 0.011), n(1, 0.9, 0.0015), n(2, 0.95, 0.001), n(3, 0.7, 0.101), n(4, 1.1, 0.001)], current);
  t.same(ranked.map((c) => c.neuron.index), [1, 2, 0, 3]);
});
