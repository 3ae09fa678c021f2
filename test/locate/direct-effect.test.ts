import { existsSync } from "node:fs";
import { join } from "node:path";

import t from "tap";
import { loadDataset, probes } from "../../lib/measure/dataset.js";
import { ProbeSet } from "../../lib/measure/probe-set.js";
import { directEffects, normScale } from "../../lib/locate/direct-effect.js";
import { openGguf } from "../../lib/gguf/reader.js";
import { DebiasModel } from "../../lib/llama/model.js";
import { packageRoot } from "../../lib/package-root.js";
import { fixturePath, openFixture } from "../helpers/fixtures.js";

const dataset = await loadDataset("demo");

// In the last layer a neuron only acts through the logits, so its direct effect must predict the change
// of b when it is zeroed at the last position, up to the final norm, which DLA freezes. Under RMSNorm
// that holds to 10%; LayerNorm re-centres and rescales more when one neuron goes, so there only the
// direction is asserted.
for (const [name, relative] of [["llama-localized", 0.1], ["gpt2-localized", null]] as const) {
  t.test(`${name}: last-layer DLA predicts the effect of zeroing`, async (t) => {
    const { model, evaluator } = await openFixture(t, name, "f32", { threads: 1 });
    const probe = probes(dataset).find((p) => p.label === "stereotyped" && p.female[0] === " she")!;
    const set = ProbeSet.build(model, [probe]);
    const [b] = await set.measure(evaluator);
    const item = set.items[0]!;
    t.same(item.divergence && [Array.from(item.divergence.tokens), item.divergence.female, item.divergence.male], [Array.from(item.prompt), item.female[0], item.male[0]], "single-token targets: the sides part at the prompt's next token");
    // Weight 1: the summed DLA is the probe's own DLA on b.
    const direct = await directEffects(await openGguf(fixturePath(name)), model, evaluator, set, { objective: Float64Array.of(1), factual: Float64Array.of(0) });
    const last = model.facts.nLayer - 1;
    const dla = Array.from(direct.objective[last]!);
    const top = dla.map((v, i) => ({ v, i })).sort((x, y) => Math.abs(y.v) - Math.abs(x.v)).slice(0, 8);
    for (const { v, i } of top) {
      const [zeroed] = await set.measure(evaluator, [{ layer: last, neurons: [i], positions: [-1] }]);
      const effect = b! - zeroed!;
      const message = `neuron ${last}:${i}: DLA ${v.toExponential(3)} vs measured ${effect.toExponential(3)}`;
      if (relative === null) t.equal(Math.sign(effect), Math.sign(v), message);
      else t.ok(Math.abs(effect - v) <= relative * Math.abs(v) + 1e-4, message);
    }
    t.equal(direct.norms.length, model.facts.nLayer, "a value-vector norm per layer");
  });
}

// A tokenizer whose pieces span the prompt's end: the sides share ". One day, " after the context and part
// on the next token ("she " / "he "), so DLA is read there. Zeroing a last-layer neuron at that position
// (the last of both members' sequences) changes only the she/he logit gap D there: with the final norm
// frozen that change is the DLA; unfrozen it is D − (s/s')·(D − DLA), s and s' the norm's scale before
// and after, which this model's large neurons move by several percent, so the test uses the exact form.
const tinyStoriesModel = join(packageRoot(), "..", "shared", "models", "TinyStories-656K.f16.gguf");
t.test("TinyStories-656K: DLA at the divergence predicts the effect of zeroing", { skip: existsSync(tinyStoriesModel) ? false : `no ${tinyStoriesModel}` }, async (t) => {
  const model = await DebiasModel.load(tinyStoriesModel);
  t.teardown(() => model.dispose());
  const evaluator = await model.createEvaluator({ nCtx: 512, nSeqMax: 32, threads: 1 });
  const prompt = "Once upon a time, there was a nurse. One day,";
  const probe = { word: "nurse", category: "job", label: "stereotyped" as const, split: "selection" as const, direction: "female" as const, template: "t", target: "she/he", prompt, female: [" she"], male: [" he"], baseline: false };
  const set = ProbeSet.build(model, [probe]);
  const { divergence, context, female, male } = set.items[0]!;
  t.ok(divergence !== null && divergence.tokens.length === context.length + 1 && female.length === 2 && male.length === 2, "the sides share one token after the context");
  const [b] = await set.measure(evaluator);
  const file = await openGguf(tinyStoriesModel);
  const direct = await directEffects(file, model, evaluator, set, { objective: Float64Array.of(1), factual: Float64Array.of(0) });
  const last = model.facts.nLayer - 1;
  const norm = { kind: "rms" as const, eps: Number(file.kv("llama.attention.layer_norm_rms_epsilon")?.value ?? 1e-5) };
  const at = [{ prompt: 0, position: -1 }];
  const probeAt = async (interventions: { layer: number; neurons: number[]; positions: number[]; prompts: number[] }[]) => {
    const r = await evaluator.evaluate({
      prompts: [divergence!.tokens],
      targets: [{ prompt: 0, position: -1, token: divergence!.female }, { prompt: 0, position: -1, token: divergence!.male }],
      captureNamed: { names: [`l_out-${last}`], at },
      interventions,
    });
    return { gap: r.logprobs[0]! - r.logprobs[1]!, scale: normScale(r.named[0]![0]!, norm) };
  };
  const base = await probeAt([]);
  const top = Array.from(direct.objective[last]!, (v, i) => ({ v, i })).sort((x, y) => Math.abs(y.v) - Math.abs(x.v)).slice(0, 6);
  t.ok(Math.abs(top[0]!.v) > 0.01, `the largest last-layer DLA is not negligible: ${top[0]!.v}`);
  for (const { v, i } of top) {
    const [zeroed] = await set.measure(evaluator, [{ layer: last, neurons: [i], positions: [-1] }]);
    const effect = b! - zeroed!;
    const after = await probeAt([{ layer: last, neurons: [i], positions: [-1], prompts: [0] }]);
    const predicted = base.gap - (base.scale / after.scale) * (base.gap - v);
    t.equal(Math.sign(effect), Math.sign(v), `neuron ${last}:${i}: DLA ${v.toExponential(3)} has the sign of the measured ${effect.toExponential(3)}`);
    t.ok(Math.abs(effect - predicted) <= 0.01 * Math.abs(effect) + 1e-4, `neuron ${last}:${i}: with the norm's measured change, ${predicted.toExponential(4)} = ${effect.toExponential(4)}`);
  }
});
