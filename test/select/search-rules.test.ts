// The rules both searches share (selection.ts), on synthetic neurons whose effects add up, so the right
// set is known: which neurons a search may walk to, which set the budget lets it choose, and what it
// spends. No model: each test runs in milliseconds.
import t from "tap";
import { neuronKey, type NeuronId } from "../../lib/locate/neurons.js";
import { searchRanked } from "../../lib/select/ranked-search.js";
import { selectNeurons, type SearchResult, type SelectionOptions } from "../../lib/select/selection.js";
import { syntheticBase, syntheticEffects, type SyntheticNeuron } from "../helpers/synthetic.js";

const TOTAL = 1000;
// four neurons that each take a fifth off every stereotyped lean, cheaply
const gender: SyntheticNeuron[] = [0, 1, 2, 3].map((index) => ({ layer: 0, index, stereotype: 0.2, kl: 0.002 }));
// shrinks the stereotype more than any, but by dimming gender itself: factual margin 2 → 0.5
const dimmer: SyntheticNeuron = { layer: 1, index: 0, stereotype: 0.5, factual: 1.5, kl: 0.002 };
// helps, at a KL beyond the default budget (0.02)
const costly: SyntheticNeuron = { layer: 1, index: 1, stereotype: 0.3, kl: 0.05 };
const idle: SyntheticNeuron[] = [2, 3, 4, 5].map((index) => ({ layer: 1, index, kl: 1e-4 }));
const ALL = [...gender, dimmer, costly, ...idle];

const keys = (neurons: readonly NeuronId[]) => neurons.map(neuronKey).sort();

/** The thorough search from each neuron's measured single effect, as the locator hands them over. */
async function thorough(neurons: readonly SyntheticNeuron[], options: SelectionOptions = {}): Promise<SearchResult> {
  const base = syntheticBase();
  const effects = syntheticEffects(base, neurons);
  const singles = await effects(neurons.map((n) => [n]));
  const located = neurons.map((n, k) => ({ layer: n.layer, index: n.index, causal: { dLoss: singles[k]!.dLoss, dFactual: singles[k]!.dFactual, kl: singles[k]!.kl } }));
  return selectNeurons(effects, base, located, TOTAL, 0.001, options);
}

t.test("the thorough search chooses the neurons that remove the stereotype, not the one that dims factual gender nor the one beyond the KL budget", async (t) => {
  const result = await thorough(ALL);
  t.same(keys(result.neurons), keys(gender));
  t.ok(result.neurons.every((n) => n.scale === 0), "zeroed");
  t.equal(result.startLoss, 2, "|Δ|/2 + mean |r| of the stereotyped words: 1 + 1");
  t.ok(Math.abs(result.effect.loss - 0.4) < 1e-12, `${result.effect.loss}: each neuron took 0.1 off both terms`);
  t.ok(Math.abs(result.effect.kl - 0.008) < 1e-12);
  t.equal(result.effect.factualMargin, 2, "factual gender kept whole");
  t.ok(result.steps.some((s) => s.added.some((n) => neuronKey(n) === neuronKey(costly)) && /KL .* would exceed the budget 0.02/.test(s.reason)), "the costly neuron was tried and refused for its KL");
  t.notOk(result.neurons.some((n) => neuronKey(n) === neuronKey(dimmer)), "the dimmer never");
});

t.test("the walk is the same whatever the KL budget, and a larger budget never chooses a set that leaves more", async (t) => {
  const budgets = [0.001, 0.004, 0.02, 0.1, 1];
  const results = await Promise.all(budgets.map((maxKl) => thorough(ALL, { maxKl })));
  const walk = (r: SearchResult) => r.steps.map((s) => [s.round, keys(s.added), s.accepted, s.loss, s.kl]);
  for (const r of results.slice(1)) t.same(walk(r), walk(results[0]!), "the same steps, accepted the same");
  for (let k = 1; k < results.length; k++) t.ok(results[k]!.effect.loss <= results[k - 1]!.effect.loss, `max KL ${budgets[k]}: ${results[k]!.effect.loss} ≤ ${results[k - 1]!.effect.loss}`);
  results.forEach((r, k) => t.ok(r.effect.kl <= budgets[k]!, `max KL ${budgets[k]}: the chosen set costs ${r.effect.kl}`));
  t.same(keys(results[0]!.neurons), [], "nothing fits a budget below one neuron's KL");
  t.same(keys(results.at(-1)!.neurons), keys([...gender, costly]), "a budget that fits the costly neuron takes it on top");
});

t.test("the neuron budget bounds the set", async (t) => {
  for (const maxNeurons of [1, 2, 3]) {
    const result = await thorough(ALL, { maxNeurons });
    t.ok(result.neurons.length <= maxNeurons, `${result.neurons.length} ≤ ${maxNeurons}`);
    t.ok(result.neurons.length > 0 && result.neurons.every((n) => gender.some((g) => neuronKey(g) === neuronKey(n))), "gender neurons only");
  }
});

t.test("a gain that does not hold on every fold is not walked to", async (t) => {
  // shrinks the lean on one template and grows it on the other: a net gain that fits one template
  const oneSided: SyntheticNeuron = { layer: 2, index: 0, stereotype: { t1: 0.9, t2: -0.3 }, kl: 0.001 };
  const result = await thorough([oneSided, ...idle]);
  t.same(result.neurons, []);
  t.match(result.steps[0]?.reason, /does not hold on every fold/);
  t.match(result.stopped, /no addition's gain held/);
});

t.test("the stereotype removed on the selection probes ends the walk", async (t) => {
  const strong: SyntheticNeuron[] = [0, 1].map((index) => ({ layer: 0, index, stereotype: 0.5, kl: 0.001 }));
  const result = await thorough([...strong, ...idle]);
  t.same(keys(result.neurons), keys(strong));
  t.equal(result.effect.loss, 0);
  t.equal(result.stopped, "the objective is removed on the selection probes");
});

t.test("the fast search: the passes it is given and no more, a candidate that alone dims gender dropped, the set within budget", async (t) => {
  const base = syntheticBase();
  const ranked = [dimmer, gender[0]!, gender[1]!, costly, gender[2]!, gender[3]!, ...idle];
  for (const passes of [1, 3, 6, 12, 40]) {
    const effects = syntheticEffects(base, ALL);
    const result = await searchRanked(effects, base, ranked, TOTAL, passes);
    t.equal(result.passes, effects.measured, "passes count every edit measured");
    t.ok(result.passes <= passes, `${result.passes} ≤ ${passes} passes`);
    t.ok(result.effect.kl <= 0.02 && result.effect.factualMargin >= 0.8 * 2, `${passes} passes: KL ${result.effect.kl}, factual margin ${result.effect.factualMargin}`);
    t.notOk(result.neurons.some((n) => neuronKey(n) === neuronKey(dimmer)));
  }
  const enough = await searchRanked(syntheticEffects(base, ALL), base, [dimmer, ...gender, costly, ...idle], TOTAL, 40);
  t.same(keys(enough.neurons), keys(gender), "with passes enough, the four gender neurons");
  // It walks the ranking in order: a costly neuron ranked before two gender ones is walked through,
  // so only the set before it fits the budget (the thorough search re-ranks each round instead).
  const costlyFirst = await searchRanked(syntheticEffects(base, ALL), base, ranked, TOTAL, 40);
  t.same(keys(costlyFirst.neurons), keys(gender.slice(0, 2)));
});

t.test("same input, same output", async (t) => {
  const strip = (r: SearchResult) => JSON.stringify({ ...r, selectionB: Array.from(r.selectionB) });
  t.equal(strip(await thorough(ALL)), strip(await thorough(ALL)));
  const base = syntheticBase();
  const ranked = [...gender, costly];
  t.equal(strip(await searchRanked(syntheticEffects(base, ALL), base, ranked, TOTAL, 10)), strip(await searchRanked(syntheticEffects(base, ALL), base, ranked, TOTAL, 10)));
});
