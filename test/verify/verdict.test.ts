// The verdict follows the numbers: each kind from hand-made scores, and a sentence that quotes them.
import t from "tap";
import { scoreBias, type BiasScore, type ProbeKey } from "../../lib/measure/metrics.js";
import type { RandomComparison } from "../../lib/select/random-sets.js";
import { preVerdict, verdictOf } from "../../lib/verify/verdict.js";

/** One template; neutral words n1/n2 (b0 = their mean), two female- and two male-stereotyped words per split, two factual words. */
function score(spec: { female: number[]; male: number[]; heldFemale?: number[]; heldMale?: number[]; neutral?: number[]; factual?: [number, number] }): BiasScore {
  const probes: ProbeKey[] = [];
  const values: number[] = [];
  const add = (word: string, b: number, extra: Partial<ProbeKey>) => {
    probes.push({ word, category: "c", label: "stereotyped", split: "selection", template: "t", target: "she/he", baseline: false, ...extra });
    values.push(b);
  };
  (spec.neutral ?? [0, 0]).forEach((b, i) => add(`n${i}`, b, { label: "neutral", baseline: true }));
  spec.female.forEach((b, i) => add(`f${i}`, b, { direction: "female" }));
  spec.male.forEach((b, i) => add(`m${i}`, b, { direction: "male" }));
  (spec.heldFemale ?? []).forEach((b, i) => add(`hf${i}`, b, { direction: "female", split: "heldout" }));
  (spec.heldMale ?? []).forEach((b, i) => add(`hm${i}`, b, { direction: "male", split: "heldout" }));
  const [queen, king] = spec.factual ?? [3, -3];
  add("queen", queen, { label: "factual", gold: "female" });
  add("king", king, { label: "factual", gold: "male" });
  return scoreBias(probes, values);
}

const random = (gain: number, mean: number, std: number): RandomComparison => ({ sets: 20, size: 4, selection: null, heldout: { gain, randomMean: mean, randomStd: std, z: (gain - mean) / std, p: 1 / 21 } });
const selection = { stopped: "the objective is removed on the selection probes", budget: { maxKl: 0.02, minFactualRatio: 0.8, maxNeurons: 40, minGain: 0.01 } };

const before = score({ female: [2, 2.2], male: [-2, -1.8], heldFemale: [1, 1.2], heldMale: [-1, -0.8] });

t.test("a model that does not know gender: unmeasurable, with its factual numbers", async (t) => {
  const confused = score({ female: [2, 2.2], male: [-2, -1.8], factual: [1, 0.5] });
  const verdict = preVerdict(confused, "stereotype")!;
  t.equal(verdict.kind, "unmeasurable");
  t.match(verdict.sentence, /against each template's neutral baseline, 1 of 2 factual words lean toward their own gender \(accuracy 50\.0%, below 75\.0%; factual margin 0\.250 ± 0\.750 nats\)/);
  const noisy = preVerdict(confused, "stereotype", { minFactualAccuracy: 0.5 })!;
  t.equal(noisy.kind, "unmeasurable", "accuracy enough for the caller, but the margin is within its noise");
  t.match(noisy.sentence, /a margin within twice its standard error/);
  const knows = score({ female: [2, 2.2], male: [-2, -1.8], factual: [3, -2.5] });
  t.equal(preVerdict(knows, "stereotype"), null, "factual margin 2.75 ± 0.25: measurable");
  t.equal(preVerdict(knows, "stereotype", { minFactualAccuracy: 1.01 })!.kind, "unmeasurable", "the threshold is the caller's");
  t.equal(preVerdict(score({ female: [2, 2.2], male: [-2, -1.8], factual: [1, 1] }), "stereotype", { minFactualAccuracy: 0.5 })!.kind, "unmeasurable", "a margin of 0 is never enough");
});

t.test("no gap beyond its noise: absent, and the prior named as a separate matter", async (t) => {
  // the prior shifts factual words too: queen and king sit 3 nats either side of the baseline −1.55
  const prior = score({ female: [-2, -1], male: [-1.1, -2.1], neutral: [-1.5, -1.6], factual: [1.45, -4.55] });
  const verdict = preVerdict(prior, "stereotype")!;
  t.equal(verdict.kind, "absent");
  t.match(verdict.sentence, /no stereotype gap worth removing: 0\.100 ± 0\.707 nats/);
  t.match(verdict.sentence, /prior skew \(-1\.550 nats/);
  t.equal(preVerdict(before, "stereotype"), null, "a clear gap goes on to selection");
  const tiny = score({ female: [0.04, 0.0401], male: [-0.04, -0.0401] });
  t.ok(tiny.stereotypeGap! > 2 * tiny.stereotypeGapSe!, "a gap far outside its standard error …");
  t.equal(preVerdict(tiny, "stereotype")!.kind, "absent", "… but below 0.1 nats is not worth an edit");
  t.equal(preVerdict(tiny, "stereotype", { minGap: 0.05 }), null, "the minimum is the caller's");
});

t.test("removed, reduced, or not: the held-out numbers decide", async (t) => {
  const removed = verdictOf(before, score({ female: [0.1, 0], male: [0, 0], heldFemale: [0.1, 0.1], heldMale: [0, 0] }), 4, "stereotype", random(1.9, 0, 0.1), selection);
  t.equal(removed.kind, "removed");
  t.equal(removed.judgedOn, "heldout");
  t.equal(removed.reduction, 1 - 0.1 / 2);
  t.match(removed.sentence, /from 2\.000 to 0\.100 nats \(−95\.0%\); 20 random sets of 4 neurons .* \(z = 19\.0\), keeping 100\.0% of the factual margin/);

  const reduced = verdictOf(before, score({ female: [1, 1], male: [-1, -1], heldFemale: [0.5, 0.5], heldMale: [-0.5, -0.5] }), 4, "stereotype", random(1, 0, 0.1), selection);
  t.equal(reduced.kind, "reduced", reduced.sentence);
  t.equal(reduced.reduction, 0.5);

  const small = verdictOf(before, score({ female: [1.8, 2], male: [-1.8, -1.8], heldFemale: [0.9, 1.1], heldMale: [-0.9, -0.9] }), 4, "stereotype", random(0.2, 0, 0.05), selection);
  t.equal(small.kind, "not-localized");
  t.match(small.sentence, /less than the 20\.0% asked for.*Nothing was written/);

  const chance = verdictOf(before, score({ female: [1, 1], male: [-1, -1], heldFemale: [0.5, 0.5], heldMale: [-0.5, -0.5] }), 4, "stereotype", random(1, 0.8, 0.5), selection);
  t.equal(chance.kind, "not-localized");
  t.match(chance.sentence, /no more than random sets do/);

  const dims = verdictOf(before, score({ female: [1.5, 1.5], male: [-1.5, -1.5], heldFemale: [0.75, 0.75], heldMale: [-0.75, -0.75], factual: [2.4, -2.4] }), 4, "stereotype", random(0.5, 0, 0.1), selection);
  t.equal(dims.kind, "not-localized", "25% less stereotype for 20% less factual gender");
  t.match(dims.sentence, /not specific: it also weakened factual gender by 20\.0%/);
  t.equal(verdictOf(before, score({ female: [1.5, 1.5], male: [-1.5, -1.5], heldFemale: [0.75, 0.75], heldMale: [-0.75, -0.75], factual: [2.4, -2.4] }), 4, "stereotype", random(0.5, 0, 0.1), selection, { minSpecificity: 1 }).kind, "reduced", "the specificity asked for is the caller's");
});

t.test("an empty selection says what was searched, never that no neuron helps", async (t) => {
  const verdict = verdictOf(before, before, 0, "stereotype", null, { ...selection, stopped: "no addition passed every rule (see steps)" });
  t.equal(verdict.kind, "not-localized");
  t.match(verdict.sentence, /^Within the damage budget \(KL ≤ 0\.02 nats, factual margin ≥ 0\.8 of the original, ≤ 40 neurons\), the search found no set .* \(no addition passed every rule \(see steps\)\)\. .* Nothing was edited\.$/);
});

t.test("not-localized says what a larger KL budget would buy, from the search's walk", async (t) => {
  const step = (round: number, loss: number, kl: number) => ({ round, added: [{ layer: 0, index: round }], accepted: true, reason: "", loss, kl, factualMargin: 3, foldGains: [] });
  const walked = { ...selection, steps: [step(1, 0.9, 0.01), step(2, 0.5, 0.08)], walk: [0, 1], startLoss: 1, effect: { loss: 0.9, objective: 0.9, kl: 0.01, factualMargin: 3, factualAccuracy: 1 } };
  const small = verdictOf(before, score({ female: [1.8, 2], male: [-1.8, -1.8], heldFemale: [0.9, 1.1], heldMale: [-0.9, -0.9] }), 1, "stereotype", random(0.2, 0, 0.05), walked);
  t.equal(small.kind, "not-localized");
  t.match(small.sentence, /Beyond the budget, the search's walk reached a set that removes 50\.0% of what it minimises on the selection probes, at KL 0\.080 nats \(a larger --max-kl would take it, at that cost\)\. Nothing was written\.$/);
  const nothingMore = verdictOf(before, before, 0, "stereotype", null, { ...walked, walk: [0], effect: { ...walked.effect, loss: 1 } });
  t.match(nothingMore.sentence, /removes 10\.0%/, "an empty choice still names the best set walked beyond the budget");
  t.notMatch(verdictOf(before, before, 0, "stereotype", null, { ...walked, walk: [] }).sentence, /Beyond the budget/, "no walk, no claim");
});

t.test("without held-out probes the selection split is judged, and the sentence says so", async (t) => {
  const noHeld = score({ female: [2, 2.2], male: [-2, -1.8] });
  const verdict = verdictOf(noHeld, score({ female: [0, 0], male: [0, 0] }), 4, "stereotype", { ...random(2, 0, 0.1), selection: random(2, 0, 0.1).heldout, heldout: null }, selection);
  t.equal(verdict.judgedOn, "selection");
  t.equal(verdict.kind, "removed");
  t.match(verdict.sentence, /the selection probes \(the dataset holds no held-out ones\)/);
});
