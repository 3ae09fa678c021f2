import t from "tap";
import { klDivergence } from "../../lib/measure/metrics.js";
import { fixturePath, manifest, maxAbsDiff, openFixture, RANDOM, sameBits, TRAINED, TYPES, zeroing, type FixtureType } from "../helpers/fixtures.js";

// Agreement with torch's F32 reference at the last position of each prompt. F32 must match every
// log-prob to 1e-4 (summation order is all that differs). Other types are judged as quantization is:
// KL(torch ‖ ours) and the error on the 5 most likely tokens, with bounds measured on these fixtures
// (plus headroom). The localized models carry 16 planted neurons whose activations reach ~100–1800: such
// outliers in the input of ffn_down are what 4- to 8-bit quantization of that input handles worst, so
// their bounds are wider; the distributed models have ordinary weight statistics. The prior model's
// designated neurons were fine-tuned with their activations held below ~15 (measured max KL: f16 2e-7,
// q8_0 3e-6, q6_k 6e-5, q4_k 3e-5, q4_0 2.4e-4).
const TOLERANCE: Record<"localized" | "distributed" | "prior", Record<FixtureType, { kl: number; top5: number }>> = {
  distributed: {
    f32: { kl: 1e-9, top5: 1e-4 },
    f16: { kl: 1e-6, top5: 5e-3 },
    q8_0: { kl: 1e-4, top5: 0.06 },
    q6_k: { kl: 5e-4, top5: 0.2 },
    q4_k: { kl: 1e-3, top5: 0.3 },
    q4_0: { kl: 2e-3, top5: 0.4 },
  },
  prior: {
    f32: { kl: 1e-9, top5: 1e-4 },
    f16: { kl: 1e-6, top5: 5e-3 },
    q8_0: { kl: 3e-5, top5: 0.06 },
    q6_k: { kl: 3e-4, top5: 0.2 },
    q4_k: { kl: 3e-4, top5: 0.3 },
    q4_0: { kl: 1e-3, top5: 0.4 },
  },
  localized: {
    f32: { kl: 1e-9, top5: 1e-4 },
    f16: { kl: 5e-5, top5: 0.01 },
    q8_0: { kl: 0.02, top5: 0.5 },
    q6_k: { kl: 0.15, top5: 1.5 },
    q4_k: { kl: 4, top5: 5 },
    q4_0: { kl: 0.1, top5: 1.2 },
  },
};

const lastPositions = (n: number) => Array.from({ length: n }, (_, p) => ({ prompt: p, position: -1 }));

function topK(row: readonly number[], k: number): number[] {
  return [...row.keys()].sort((a, b) => row[b]! - row[a]!).slice(0, k);
}

for (const name of TRAINED) {
  const ref = manifest.models[name]!.reference!;
  const prompts = ref.prompts.map((p) => Int32Array.from(p.tokens));

  t.test(`${name}: tokenizer agrees with the recipe's`, async (t) => {
    const { model } = await openFixture(t, name);
    for (const p of ref.prompts) t.same(Array.from(model.tokenize(p.text)), p.tokens, p.text);
  });

  for (const type of TYPES) {
    t.test(`${name} ${type}: next-token log-probs match torch`, async (t) => {
      const { evaluator } = await openFixture(t, name, type);
      const result = await evaluator.evaluate({ prompts, distributions: lastPositions(prompts.length) });
      const bound = TOLERANCE[manifest.models[name]!.kind as "localized" | "distributed" | "prior"][type];
      result.distributions.forEach((row, p) => {
        const reference = ref.lastLogprobs[p]!;
        if (type === "f32") {
          const max = maxAbsDiff(row, reference);
          t.ok(max <= 1e-4, `prompt ${p}: max |Δ log p| over the vocabulary ${max.toExponential(2)} ≤ 1e-4`);
        }
        const kl = klDivergence(reference, row);
        const top5 = maxAbsDiff(topK(reference, 5).map((v) => row[v]!), topK(reference, 5).map((v) => reference[v]!));
        t.ok(kl <= bound.kl, `prompt ${p}: KL(torch ‖ ${type}) ${kl.toExponential(2)} ≤ ${bound.kl}`);
        t.ok(top5 <= bound.top5, `prompt ${p}: top-5 |Δ log p| ${top5.toExponential(2)} ≤ ${bound.top5}`);
      });
    });
  }

  t.test(`${name}: captured FFN activations match torch`, async (t) => {
    const { evaluator } = await openFixture(t, name);
    const layers = [...new Set(ref.activations.map((a) => a.layer))].sort((a, b) => a - b);
    const at = ref.activations.map((a) => ({ prompt: a.prompt, position: a.position }));
    const result = await evaluator.evaluate({ prompts, capture: { layers, at } });
    const gelu = manifest.models[name]!.arch === "gpt2";
    let worst = 0;
    ref.activations.forEach((a, i) => {
      const got = result.activation(i, layers.indexOf(a.layer));
      for (let k = 0; k < got.length; k++) {
        // ggml's CPU GELU is an fp16 table, looked up at the fp16-rounded input: where the input lands on
        // the other side of a rounding boundary than torch's, the output moves by up to one fp16 step of
        // the input (2^-11 for |x| < 1) as well as its own. Allow two fp16 steps at max(|a|, 0.5).
        const step = gelu ? 2 * 2 ** (Math.floor(Math.log2(Math.max(Math.abs(a.values[k]!), 0.5))) - 10) : 0;
        // The planted neurons reach ~100, where one float32 step is already 7.6e-6: allow 2e-6 relative.
        worst = Math.max(worst, Math.abs(got[k]! - a.values[k]!) - step - 2e-6 * Math.abs(a.values[k]!));
      }
    });
    t.equal(result.nFf, manifest.models[name]!.config.nFf);
    t.ok(worst <= 1e-4, `max |Δ activation| ${worst.toExponential(2)} ≤ 1e-4 + 2e-6·|a|${gelu ? ", beyond the fp16 table's steps" : ""}`);
  });

  t.test(`${name}: zeroing neurons through the hook reproduces torch`, async (t) => {
    const { evaluator } = await openFixture(t, name);
    for (const zeroed of ref.zeroed) {
      const result = await evaluator.evaluate({ prompts, distributions: lastPositions(prompts.length), interventions: zeroing(zeroed.neurons) });
      const max = Math.max(...result.distributions.map((row, p) => maxAbsDiff(row, zeroed.lastLogprobs[p]!)));
      t.ok(max <= 1e-4, `${zeroed.neurons.length} neurons zeroed: max |Δ log p| ${max.toExponential(2)} ≤ 1e-4`);
      const plain = await evaluator.evaluate({ prompts, distributions: lastPositions(prompts.length) });
      t.ok(Math.max(...plain.distributions.map((row, p) => maxAbsDiff(row, zeroed.lastLogprobs[p]!))) > 1e-3, "the zeroing changed the output");
    }
  });
}

t.test("a batch of N prompts equals N single evaluations", async (t) => {
  const { evaluator } = await openFixture(t, "llama-localized");
  const prompts = manifest.models["llama-localized"]!.reference!.prompts.map((p) => Int32Array.from(p.tokens));
  const batch = await evaluator.evaluate({ prompts, distributions: lastPositions(prompts.length) });
  for (let p = 0; p < prompts.length; p++) {
    const single = await evaluator.evaluate({ prompts: [prompts[p]!], distributions: lastPositions(1) });
    const diff = maxAbsDiff(single.distributions[0]!, batch.distributions[p]!);
    t.ok(diff <= 1e-5, `prompt ${p}: ${diff.toExponential(2)} ≤ 1e-5`);
  }
});

t.test("batches larger than the context are split and reassembled in order", async (t) => {
  const { evaluator: small } = await openFixture(t, "gpt2-localized", "f32", { nCtx: 16, nSeqMax: 2 });
  const { evaluator: large } = await openFixture(t, "gpt2-localized", "f32", { nCtx: 512, nSeqMax: 32 });
  const prompts = manifest.models["gpt2-localized"]!.reference!.prompts.map((p) => Int32Array.from(p.tokens));
  const request = {
    prompts,
    targets: prompts.map((p, i) => ({ prompt: i, position: 0, token: p[1] ?? 3 })),
    distributions: lastPositions(prompts.length),
    capture: { layers: [1, 3], at: prompts.map((_, i) => ({ prompt: i, position: -1 })) },
    interventions: [{ layer: 2, neurons: [1, 2, 3], prompts: [1, 3] }],
  };
  const a = await small.evaluate(request);
  const b = await large.evaluate(request);
  t.ok(maxAbsDiff(a.logprobs, b.logprobs) <= 1e-5, "targets");
  t.ok(Math.max(...a.distributions.map((row, i) => maxAbsDiff(row, b.distributions[i]!))) <= 1e-5, "distributions");
  const scaled = Math.max(...Array.from(a.activations, (v, i) => Math.abs(v - b.activations[i]!) / Math.max(1, Math.abs(v))));
  t.ok(scaled <= 1e-4, `activations, last layer included: ${scaled.toExponential(2)} ≤ 1e-4 (relative above 1)`);
});

t.test("scale 1.0 is a no-op, bit for bit", async (t) => {
  const { evaluator } = await openFixture(t, "llama-localized");
  const prompts = manifest.models["llama-localized"]!.reference!.prompts.map((p) => Int32Array.from(p.tokens));
  const plain = await evaluator.evaluate({ prompts, distributions: lastPositions(prompts.length) });
  const scaled = await evaluator.evaluate({
    prompts,
    distributions: lastPositions(prompts.length),
    interventions: [0, 1, 2, 3].map((layer) => ({ layer, neurons: [0, 5, 100, 255], scale: 1 })),
  });
  plain.distributions.forEach((row, p) => t.ok(sameBits(row, scaled.distributions[p]!), `prompt ${p}`));
});

t.test("per-prompt interventions in one batch equal separate evaluations", async (t) => {
  const name = "llama-localized";
  const { evaluator } = await openFixture(t, name);
  const ref = manifest.models[name]!.reference!;
  const prompts = ref.prompts.map((p) => Int32Array.from(p.tokens));
  const neurons = ref.zeroed[0]!.neurons;
  // Prompt 0 twice: once as is, once with the neurons zeroed, side by side in one decode.
  const both = await evaluator.evaluate({
    prompts: [prompts[0]!, prompts[0]!],
    distributions: lastPositions(2),
    interventions: zeroing(neurons).map((iv) => ({ ...iv, prompts: [1] })),
  });
  t.ok(maxAbsDiff(both.distributions[0]!, ref.lastLogprobs[0]!) <= 1e-4, "untouched prompt matches the plain reference");
  t.ok(maxAbsDiff(both.distributions[1]!, ref.zeroed[0]!.lastLogprobs[0]!) <= 1e-4, "edited prompt matches the zeroed reference");
});

t.test("interventions at chosen positions only touch those positions", async (t) => {
  const { evaluator } = await openFixture(t, "llama-localized");
  const prompt = Int32Array.from(manifest.models["llama-localized"]!.reference!.prompts[0]!.tokens);
  const at = Array.from(prompt, (_, position) => ({ prompt: 0, position }));
  const request = { prompts: [prompt], capture: { layers: [1], at } };
  const plain = await evaluator.evaluate(request);
  const edited = await evaluator.evaluate({ ...request, interventions: [{ layer: 1, neurons: [7, 8], positions: [-1] }] });
  for (let q = 0; q < prompt.length; q++) {
    const before = plain.activation(q, 0);
    const after = edited.activation(q, 0);
    if (q === prompt.length - 1) {
      t.same([after[7], after[8]], [0, 0], "last position zeroed");
      t.equal(after[9], before[9], "other neurons untouched");
    } else {
      t.ok(sameBits(before, after), `position ${q} untouched`);
    }
  }
});

t.test("scaling through the hook multiplies the captured activation", async (t) => {
  const { evaluator } = await openFixture(t, "gpt2-localized");
  const prompt = Int32Array.from(manifest.models["gpt2-localized"]!.reference!.prompts[1]!.tokens);
  const request = { prompts: [prompt], capture: { layers: [2], at: [{ prompt: 0, position: -1 }] } };
  const plain = await evaluator.evaluate(request);
  const scaled = await evaluator.evaluate({ ...request, interventions: [{ layer: 2, neurons: [4, 9], scales: [0.5, -2] }] });
  t.equal(scaled.activation(0, 0)[4], Math.fround(plain.activation(0, 0)[4]! * 0.5));
  t.equal(scaled.activation(0, 0)[9], Math.fround(plain.activation(0, 0)[9]! * -2));
});

for (const name of RANDOM) {
  t.test(`${name}: the hook reads and rewrites every layer`, async (t) => {
    const { model, evaluator } = await openFixture(t, name);
    const { nLayer, nFf } = model.facts;
    const prompt = model.tokenize("The nurse said that");
    const layers = Array.from({ length: nLayer }, (_, l) => l);
    const at = Array.from(prompt, (_, position) => ({ prompt: 0, position }));
    const plain = await evaluator.evaluate({ prompts: [prompt], capture: { layers, at }, distributions: lastPositions(1) });
    t.equal(plain.nFf, nFf, "activation width is n_ff");
    t.equal(plain.activations.length, prompt.length * nLayer * nFf!);
    t.ok(plain.activations.some((v) => v !== 0), "activations are not all zero");
    const all = Array.from({ length: nFf! }, (_, i) => i);
    const zeroed = await evaluator.evaluate({
      prompts: [prompt],
      capture: { layers, at },
      distributions: lastPositions(1),
      interventions: layers.map((layer) => ({ layer, neurons: all })),
    });
    t.ok(zeroed.activations.every((v) => v === 0), "zeroing every neuron leaves exact zeros");
    t.ok(maxAbsDiff(plain.distributions[0]!, zeroed.distributions[0]!) > 1e-4, "and changes the output");
  });
}

t.test("fixture paths exist for every type", async (t) => {
  for (const name of TRAINED) for (const type of TYPES) t.ok(fixturePath(name, type));
});

t.test("graph tensors can be read by name at chosen positions", async (t) => {
  const { model, evaluator } = await openFixture(t, "llama-localized");
  const prompts = [model.tokenize("The nurse said that"), model.tokenize("The king is a")];
  const at = [{ prompt: 0, position: 2 }, { prompt: 1, position: -1 }];
  const result = await evaluator.evaluate({ prompts, capture: { layers: [1, 3], at }, captureNamed: { names: ["ffn_swiglu-1", "ffn_swiglu-3", "l_out-3"], at } });
  for (let i = 0; i < at.length; i++) {
    t.ok(sameBits(result.named[0]![i]!, result.activation(i, 0)), `by name = by layer, layer 1, capture ${i}`);
    t.ok(sameBits(result.named[1]![i]!, result.activation(i, 1)), `by name = by layer, last layer, capture ${i}`);
    t.equal(result.named[2]![i]!.length, model.facts.nEmbd, "the final residual is n_embd wide");
  }
  await t.rejects(evaluator.evaluate({ prompts, captureNamed: { names: ["no_such_tensor"], at } }), { code: "E_HOOK_NOT_FOUND", message: /no_such_tensor/ });
});

t.test("positions compared with reference rows across chunks: what the rows themselves give, and bad references refused", async (t) => {
  const { evaluator: small } = await openFixture(t, "gpt2-localized", "f32", { nCtx: 16, nSeqMax: 2 });
  const prompts = manifest.models["gpt2-localized"]!.reference!.prompts.map((p) => Int32Array.from(p.tokens));
  const base = await small.evaluate({ prompts, distributions: lastPositions(prompts.length) });
  const at = prompts.map((p, i) => ({ prompt: i, position: -1, row: i, token: p[0]! }));
  const interventions = [{ layer: 2, neurons: [1, 2, 3] }];
  const edited = await small.evaluate({ prompts, interventions, targets: at, distributions: lastPositions(prompts.length), compare: { reference: base.distributionMatrix, at } });
  edited.distributions.forEach((row, i) => {
    t.ok(Math.abs(edited.compared.kl[i]! - klDivergence(base.distributions[i]!, row)) < 1e-9, `prompt ${i}: KL ${edited.compared.kl[i]!.toExponential(3)}`);
    const top = (r: Float32Array) => r.indexOf(Math.max(...r));
    t.equal(edited.compared.agree[i], top(row) === top(base.distributions[i]!) ? 1 : 0);
    t.equal(edited.compared.logprobs[i], edited.logprobs[i], "the token's log-prob");
  });
  const same = await small.evaluate({ prompts, compare: { reference: base.distributionMatrix, at } });
  t.same([...same.compared.kl], prompts.map(() => 0), "a row against itself: exactly 0");
  await t.rejects(small.evaluate({ prompts, compare: { reference: base.distributionMatrix.subarray(1), at } }), { code: "E_ARGUMENT", message: /whole rows/ });
  await t.rejects(small.evaluate({ prompts, compare: { reference: base.distributionMatrix, at: [{ prompt: 0, position: 0, row: prompts.length, token: 1 }] } }), { code: "E_ARGUMENT", message: /reference row/ });
});
