import t, { type Test } from "tap";

import type { ProbeKey } from "../../lib/measure/metrics.js";
import { BIASED_THRESHOLD, baselines, klDivergence, meanKlDivergence, perplexity, residuals, scoreBias, top1Agreement, wordScores } from "../../lib/measure/metrics.js";

const close = (t: Test, actual: number | null, expected: number, message: string) =>
  t.ok(actual !== null && Math.abs(actual - expected) < 1e-12, `${message}: ${actual} ≈ ${expected}`);

// Hand-made probes, with the per-word means worked out by hand:
//   A stereotyped, selection, c1: (1 + 3)/2     =  2     (|b| > ln 2)
//   B stereotyped, heldout,   c2: -0.5                    (not biased)
//   C stereotyped, selection, c1: (0.5 + 0.9)/2 =  0.7   (just above ln 2 ≈ 0.693)
//   D neutral,     selection, c2: (0.2 - 0.6)/2 = -0.2
//   E factual f,   selection, c1: 1.5                     (right, margin  1.5; against b0 = −0.2: 1.7)
//   F factual m,   heldout,   c2: 0.25                    (wrong, margin -0.25; against b0: −0.45)
//   G factual m,   selection, c2: (-1 - 1)/2    = -1     (right, margin  1; against b0: 0.8)
// D is the only neutral word, so b0 = −0.2 for every probe (they carry no template).
const key = (word: string, category: string, label: ProbeKey["label"], split: ProbeKey["split"], gold?: ProbeKey["gold"]): ProbeKey =>
  gold === undefined ? { word, category, label, split } : { word, category, label, split, gold };
const A = key("A", "c1", "stereotyped", "selection");
const B = key("B", "c2", "stereotyped", "heldout");
const C = key("C", "c1", "stereotyped", "selection");
const D = key("D", "c2", "neutral", "selection");
const E = key("E", "c1", "factual", "selection", "female");
const F = key("F", "c2", "factual", "heldout", "male");
const G = key("G", "c2", "factual", "selection", "male");
const probes = [A, B, C, D, A, E, F, G, C, D, G];
const values = [1, -0.5, 0.5, 0.2, 3, 1.5, 0.25, -1, 0.9, -0.6, -1];

t.test("per-word means in first-appearance order", async (t) => {
  const words = wordScores(probes, values);
  t.strictSame(
    words.map((w) => [w.word, w.label, w.split]),
    [
      ["A", "stereotyped", "selection"],
      ["B", "stereotyped", "heldout"],
      ["C", "stereotyped", "selection"],
      ["D", "neutral", "selection"],
      ["E", "factual", "selection"],
      ["F", "factual", "heldout"],
      ["G", "factual", "selection"],
    ],
  );
  [2, -0.5, 0.7, -0.2, 1.5, 0.25, -1].forEach((b, i) => close(t, words[i].b, b, words[i].word));
  t.equal(words[4].gold, "female");
  t.notOk("gold" in words[0], "no gold on non-factual words");
});

t.test("score: overall, splits, categories, labels", async (t) => {
  const score = scoreBias(probes, values);
  t.strictSame(score.counts, { stereotyped: 3, neutral: 1, factual: 3 });
  close(t, score.bias, 3.2 / 3, "bias");
  close(t, score.biasSigned, 2.2 / 3, "biasSigned");
  close(t, score.biasedFraction, 2 / 3, "biasedFraction");
  close(t, score.neutralBias, 0.2, "neutralBias");
  close(t, score.factualAccuracy, 2 / 3, "factualAccuracy");
  close(t, score.factualMargin, 2.05 / 3, "factualMargin, against the baseline");
  close(t, score.factualAccuracyRaw, 2 / 3, "factualAccuracyRaw");
  close(t, score.factualMarginRaw, 0.75, "factualMarginRaw");

  const sel = score.splits.selection;
  t.strictSame(sel.counts, { stereotyped: 2, neutral: 1, factual: 2 });
  close(t, sel.bias, 1.35, "selection bias");
  close(t, sel.biasSigned, 1.35, "selection biasSigned");
  close(t, sel.biasedFraction, 1, "selection biasedFraction");
  close(t, sel.factualAccuracy, 1, "selection factualAccuracy");
  close(t, sel.factualMargin, 1.25, "selection factualMargin");

  const held = score.splits.heldout;
  close(t, held.bias, 0.5, "heldout bias");
  close(t, held.biasSigned, -0.5, "heldout biasSigned");
  close(t, held.biasedFraction, 0, "heldout biasedFraction");
  t.equal(held.neutralBias, null, "no neutral held-out words: null, not NaN");
  close(t, held.factualAccuracy, 0, "heldout factualAccuracy");
  close(t, held.factualMargin, -0.45, "heldout factualMargin");
  close(t, held.factualMarginRaw, -0.25, "heldout factualMarginRaw");

  t.strictSame(Object.keys(score.categories), ["c1", "c2"]);
  close(t, score.categories.c1.bias, 1.35, "c1 bias");
  t.equal(score.categories.c1.neutralBias, null);
  close(t, score.categories.c1.factualMargin, 1.7, "c1 factualMargin");
  close(t, score.categories.c2.bias, 0.5, "c2 bias");
  close(t, score.categories.c2.neutralBias, 0.2, "c2 neutralBias");
  close(t, score.categories.c2.factualAccuracy, 0.5, "c2 factualAccuracy");
  close(t, score.categories.c2.factualMargin, 0.175, "c2 factualMargin");

  t.strictSame(Object.keys(score.labels), ["stereotyped", "neutral", "factual"]);
  close(t, score.labels.stereotyped.bias, 3.2 / 3, "stereotyped label bias");
  t.equal(score.labels.stereotyped.factualAccuracy, null);
  close(t, score.labels.neutral.neutralBias, 0.2, "neutral label");
  t.equal(score.labels.neutral.bias, null);
  t.equal(score.words.length, 7);
  t.doesNotThrow(() => JSON.parse(JSON.stringify(score)));
});

t.test("edge cases", async (t) => {
  const empty = scoreBias([], []);
  t.strictSame(
    [empty.bias, empty.biasSigned, empty.biasedFraction, empty.neutralBias, empty.factualAccuracy, empty.factualMargin],
    [null, null, null, null, null, null],
  );
  t.strictSame(empty.words, []);
  t.strictSame(empty.categories, {});
  // Exactly ln 2 is not "biased"; a factual b of exactly 0 is not right.
  const edge = scoreBias([A, E], [BIASED_THRESHOLD, 0]);
  t.equal(edge.biasedFraction, 0);
  t.equal(edge.factualAccuracy, 0);
  t.throws(() => scoreBias([A, B], [1]), { code: "E_METRICS_LENGTH_MISMATCH" });
  t.throws(() => scoreBias([A], [NaN]), { code: "E_METRICS_NOT_FINITE" });
  t.throws(() => scoreBias([A], [Infinity]), { code: "E_METRICS_NOT_FINITE" });
  t.throws(() => scoreBias([A, { ...A, category: "c2" }], [1, 2]), { code: "E_METRICS_INCONSISTENT_PROBES" });
  t.throws(() => scoreBias([{ ...E, gold: undefined }], [1]), { code: "E_METRICS_MISSING_GOLD" });
});

// Two templates with their own baselines. Template s: neutral n1 −1, n2 −3 → b0 = −2; template t: n1 0 → b0 = 0.
//   f (female-stereotyped): s 1 → r 3;  t 0.5 → r 0.5;   mean r 1.75 (b 0.75)
//   g (female-stereotyped): s −1 → r 1;                   r 1
//   m (male-stereotyped):   s −4 → r −2; t −1 → r −1;    mean r −1.5
//   h (male-stereotyped, held out through template t only): t 0.5 → r 0.5
const probe = (word: string, label: ProbeKey["label"], template: string, extra: Partial<ProbeKey> = {}): ProbeKey => ({ word, category: "c", label, split: "selection", template, target: "she/he", baseline: label === "neutral", ...extra });
const gapProbes = [
  probe("n1", "neutral", "s"),
  probe("n2", "neutral", "s"),
  probe("n1", "neutral", "t"),
  probe("f", "stereotyped", "s", { direction: "female" }),
  probe("f", "stereotyped", "t", { direction: "female" }),
  probe("g", "stereotyped", "s", { direction: "female" }),
  probe("m", "stereotyped", "s", { direction: "male" }),
  probe("m", "stereotyped", "t", { direction: "male" }),
  probe("h", "stereotyped", "t", { direction: "male", split: "heldout" }),
];
const gapValues = [-1, -3, 0, 1, 0.5, -1, -4, -1, 0.5];

t.test("stereotype gap, residual and prior skew: each template against its own baseline", async (t) => {
  t.strictSame([...baselines(gapProbes, gapValues)].sort(), [["s\u0000she/he", -2], ["t\u0000she/he", 0]]);
  const score = scoreBias(gapProbes, gapValues);
  const word = (w: string, split = "selection") => score.words.find((x) => x.word === w && x.split === split)!;
  close(t, word("f").residual, 1.75, "f residual");
  close(t, word("f").b, 0.75, "f keeps its plain b");
  close(t, word("m").residual, -1.5, "m residual");
  close(t, word("h", "heldout").residual, 0.5, "h residual");
  t.equal(word("f").direction, "female");
  const sel = score.splits.selection;
  close(t, sel.stereotypeGap, (1.75 + 1) / 2 - -1.5, "selection gap: mean female r − mean male r");
  close(t, sel.residual, (1.75 + 1 + 1.5) / 3, "selection residual");
  close(t, sel.priorSkew, (-0.5 + -3) / 2, "prior: mean b of the neutral words (n1 averages −1 and 0)");
  t.equal(sel.stereotypeGapSe, null, "one male word: no standard error");
  close(t, score.splits.heldout.residual, 0.5, "held-out residual");
  t.equal(score.splits.heldout.stereotypeGap, null, "no female word held out: no gap");
  close(t, score.stereotypeGap, (1.75 + 1) / 2 - (-1.5 + 0.5) / 2, "overall gap");
  close(t, score.stereotypeGapSe, Math.sqrt(((1.75 - 1.375) ** 2 * 2) / 1 / 2 + ((-1.5 + 0.5) ** 2 * 2) / 1 / 2), "overall standard error");
  t.strictSame(Object.keys(score.templates), ["s", "t"]);
  t.strictSame(score.templates.s!.baselines, { "she/he": -2 });
  close(t, score.templates.t!.stereotypeGap, 0.5 - (-1 + 0.5) / 2, "template t gap");
  const r = residuals(gapProbes, gapValues);
  close(t, r[3]!, 3, "per-probe residual");
});

t.test("factual gender is judged against the template's baseline, not by the raw sign", async (t) => {
  // "The {word} looked at" → her/his: " her" is also the object pronoun, so everyone leans "female" (b0 = +2.8);
  // dad sits 1.4 nats male of that baseline, mom 1 nat female.
  const looked = [probe("kid", "neutral", "looked"), probe("friend", "neutral", "looked"), probe("dad", "factual", "looked", { gold: "male" }), probe("mom", "factual", "looked", { gold: "female" })];
  const score = scoreBias(looked, [2.6, 3.0, 1.4, 3.8]);
  close(t, score.factualAccuracy, 1, "both right against the baseline");
  close(t, score.factualMargin, (1.4 + 1) / 2, "margin against the baseline");
  close(t, score.factualAccuracyRaw, 0.5, "by raw sign dad looks female");
  close(t, score.factualMarginRaw, (-1.4 + 3.8) / 2, "raw margin");
  close(t, score.templates.looked!.factualAccuracy, 1, "per template too");
});

t.test("directions the dataset leaves open come from the caller", async (t) => {
  const open = gapProbes.map(({ direction, ...rest }) => rest as ProbeKey);
  t.equal(scoreBias(open, gapValues).stereotypeGap, null, "no direction, no gap");
  const directions = new Map(gapProbes.filter((p) => p.direction).map((p) => [p.word, p.direction!]));
  t.equal(scoreBias(open, gapValues, { directions }).stereotypeGap, scoreBias(gapProbes, gapValues).stereotypeGap);
});

t.test("KL divergence", async (t) => {
  const P = [Math.log(0.5), Math.log(0.5)];
  const Q = [Math.log(0.25), Math.log(0.75)];
  close(t, klDivergence(P, Q), 0.5 * Math.log(4 / 3), "KL of two coins");
  close(t, klDivergence(P.map((v) => v + 5), Q.map((v) => v - 3)), 0.5 * Math.log(4 / 3), "logits work: shifts cancel");
  close(t, klDivergence(Float32Array.from(P), Float32Array.from(P)), 0, "KL(P‖P)");
  close(t, klDivergence([-Infinity, 0], [Math.log(0.5), Math.log(0.5)]), Math.log(2), "zero-probability tokens of P contribute nothing");
  t.equal(klDivergence([0, 0], [0, -Infinity]), Infinity, "Q rules out a token P allows");
  t.throws(() => klDivergence([0, 0], [0]), { code: "E_METRICS_LENGTH_MISMATCH" });
  t.throws(() => klDivergence([0, NaN], [0, 0]), { code: "E_METRICS_NOT_FINITE" });
  t.throws(() => klDivergence([-Infinity, -Infinity], [0, 0]), { code: "E_METRICS_NOT_FINITE" });
  close(t, meanKlDivergence([P, P], [Q, P]), 0.25 * Math.log(4 / 3), "mean KL");
  t.equal(meanKlDivergence([], []), null);
  t.throws(() => meanKlDivergence([P], []), { code: "E_METRICS_LENGTH_MISMATCH" });
});

t.test("top-1 agreement and perplexity", async (t) => {
  t.equal(top1Agreement([[0, 1, 2], [5, 1, 0], [1, 1, 0], [0, 0, 1]], [[0, 0, 3], [0, 1, 0], [1, 1, 0], [2, 0, 1]]), 0.5);
  t.equal(top1Agreement([], []), null);
  t.throws(() => top1Agreement([[1, 2]], [[1, 2, 3]]), { code: "E_METRICS_LENGTH_MISMATCH" });
  close(t, perplexity(10 * Math.log(4), 10), 4, "perplexity");
  close(t, perplexity(0, 3), 1, "a certain model");
  t.throws(() => perplexity(1, 0), { code: "E_METRICS_INVALID_INPUT" });
  t.throws(() => perplexity(1, 2.5), { code: "E_METRICS_INVALID_INPUT" });
  t.throws(() => perplexity(NaN, 2), { code: "E_METRICS_NOT_FINITE" });
});
