// The README's library example, run by test/examples.test.ts: measure, debias into a new file, and read
// one prompt's log-probs and FFN activations with a per-prompt edit. Plain ESM JavaScript, so it runs
// with `node examples/library.mjs` in any project that depends on gguf-debias.
import { DebiasModel, defaultModelPath, run, workloadFor } from "gguf-debias";

const path = process.argv[2] ?? defaultModelPath(); // the small model shipped with the package
const output = process.argv[3] ?? "debiased.gguf";

// The whole pipeline, with the probes that suit the model (its own, or the bundled CommonWords).
const workload = await workloadFor(path);
const result = await run(path, workload, { output, overwrite: true, maxKl: 0.02 });
console.log(result.verdict.kind, result.verdict.sentence);
console.log("held-out stereotype gap", result.before.splits.heldout.stereotypeGap, "→", result.after.splits.heldout.stereotypeGap);

// The primitives underneath: batched evaluation with FFN capture and per-prompt interventions.
const model = await DebiasModel.load(path);
try {
  const evaluator = await model.createEvaluator({ threads: 1 });
  const prompts = [model.tokenize("I told the nurse"), model.tokenize("I told the pilot")];
  const [she] = model.tokenize(" she", { addSpecial: false });
  const last = model.facts.nLayer - 1;
  const evaluation = await evaluator.evaluate({
    prompts,
    targets: prompts.map((_, prompt) => ({ prompt, position: -1, token: she })),
    capture: { layers: [last], at: [{ prompt: 0, position: -1 }] }, // the vector fed into ffn_down
    interventions: [{ layer: last, neurons: [0, 1], scale: 0, prompts: [1] }], // edit prompt 1 only
  });
  console.log("log p(she)", Array.from(evaluation.logprobs), "activations", evaluation.activation(0, 0).length);
} finally {
  model.dispose();
}
