// Causal effects of edits through the graph hook, on the planted llama fixture: what a neuron set really
// does to the objective, the factual margin and neutral text, measured many variants a batch.
import t from "tap";
import { causalEffects, effectOf } from "../../lib/locate/causal.js";
import { syntheticBase, syntheticProbes } from "../helpers/synthetic.js";
import { openSession, scoreOriginal } from "../../lib/measure/session.js";
import { selectionBaseline } from "../../lib/locate/baseline.js";
import { defaultWorkload } from "../../lib/measure/workload.js";
import { searchSize } from "../../lib/measure/objective.js";
import { fixturePath, manifest } from "../helpers/fixtures.js";

const path = fixturePath("llama-localized");
const planted = manifest.models["llama-localized"]!.designatedNeurons!;
const session = await openSession(path, await defaultWorkload("demo"), { threads: 1 });
t.teardown(() => session.model.dispose());
const base = await selectionBaseline(session, "stereotype", await scoreOriginal(session));
const baseSize = searchSize(base.score, "stereotype");

t.test("an empty edit changes nothing", async (t) => {
  const [none] = await causalEffects(session.evaluator, base, [[]]);
  t.ok(Math.abs(none!.dLoss) < 1e-5, `dLoss ${none!.dLoss}`);
  t.equal(none!.kl, 0, "no KL on neutral text");
  t.ok(none!.b.every((b, i) => Math.abs(b - base.b[i]!) < 1e-5), "the same b for every probe");
});

t.test("the planted neurons carry the stereotype; as many random ones do not", async (t) => {
  const random = planted.map((n, k) => ({ layer: n.layer, index: (n.index + 37 * (k + 1)) % manifest.models["llama-localized"]!.config.nFf }));
  const [plantedEffect, randomEffect] = await causalEffects(session.evaluator, base, [planted, random]);
  t.ok(plantedEffect!.loss < 0.1 * baseSize, `planted: ${baseSize.toFixed(3)} → ${plantedEffect!.loss.toFixed(3)} nats`);
  t.ok(Math.abs(randomEffect!.dLoss) < 0.1 * baseSize, `random: moves it by ${randomEffect!.dLoss.toFixed(4)}`);
  t.ok(plantedEffect!.kl > 0 && plantedEffect!.kl < 0.02, `KL ${plantedEffect!.kl.toExponential(2)} on neutral text`);
});

t.test("factual margin lost counts against the gain at the same relative rate", async (t) => {
  const edits = [planted.slice(0, 4), planted.slice(4, 8), [{ layer: 0, index: 0 }], [{ layer: 1, index: 5, scale: 3 }]];
  const margin0 = base.score.factualMargin!;
  for (const e of await causalEffects(session.evaluator, base, edits)) {
    const margin = e.score.factualMargin!;
    t.equal(e.loss, searchSize(e.score, "stereotype") + (baseSize * Math.max(0, margin0 - margin)) / margin0);
    t.equal(e.dLoss, e.loss - baseSize);
    t.equal(e.dFactual, margin - margin0);
  }
});

t.test("variants measured together give what each gives alone (more than one batch of them)", async (t) => {
  const edits = Array.from({ length: 20 }, (_, k) => [planted[k % planted.length]!]);
  const together = await causalEffects(session.evaluator, base, edits);
  for (const k of [0, 7, 16, 19]) {
    const [alone] = await causalEffects(session.evaluator, base, [edits[k]!]);
    t.ok(Math.abs(alone!.loss - together[k]!.loss) < 1e-5 && Math.abs(alone!.kl - together[k]!.kl) < 1e-7, `edit ${k}: ${alone!.loss} vs ${together[k]!.loss}`);
  }
});

t.test("an edit's effect from b: the objective's size, plus the factual margin lost at the same relative rate (hand-made b, no model)", async (t) => {
  const probes = syntheticProbes();
  const synthetic = syntheticBase("stereotype", probes);
  const scaled = (factor: (label: string) => number) => Float64Array.from(probes.b, (v, i) => v * factor(probes.keys[i]!.label));
  t.match(effectOf(synthetic, probes.b, 0), { dLoss: 0, dFactual: 0, loss: 2, objective: 2, factualMargin: 2, kl: 0 }, "unedited: |Δ|/2 + mean |r| = 1 + 1");
  t.match(effectOf(synthetic, scaled((l) => (l === "stereotyped" ? 0.5 : 1)), 0.01), { dLoss: -1, loss: 1, objective: 1, factualMargin: 2, kl: 0.01 }, "every stereotyped lean halved");
  t.match(effectOf(synthetic, scaled((l) => (l === "stereotyped" ? 0.5 : l === "factual" ? 0.75 : 1)), 0), { dLoss: -0.5, loss: 1.5, dFactual: -0.5, factualMargin: 1.5 }, "a quarter of the factual margin lost gives a quarter of the original size back");
});
