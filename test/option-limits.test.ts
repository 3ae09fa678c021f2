// Each numeric option's limits are written once and refused where the library uses the option, with a
// sentence that names it; the CLI names the same limits as flags (test/bin/usability.test.ts).
import t from "tap";
import { allowed, checkOptions, firstOutOfLimits } from "../lib/option-limits.js";
import { run } from "../lib/pipeline.js";
import { DebiasModel } from "../lib/llama/model.js";
import { compareContinuations } from "../lib/verify/continuations.js";
import { defaultWorkload } from "../lib/measure/workload.js";
import { fixturePath } from "./helpers/fixtures.js";

t.test("limits and their wording", async (t) => {
  t.equal(allowed("maxKl"), "a number from 0 to 100");
  t.equal(allowed("threads"), "a whole number from 1 to 1024");
  t.equal(allowed("scale"), "a number from 0 up to (not including) 1");
  t.equal(firstOutOfLimits({ maxKl: 0, scale: 0.99, threads: 1, other: -5, candidates: undefined }), null, "edges, unknown keys and unset options pass");
  for (const [options, name] of [[{ maxKl: -0.1 }, "maxKl"], [{ maxKl: Number.NaN }, "maxKl"], [{ scale: 1 }, "scale"], [{ threads: 1.5 }, "threads"], [{ minFactualRatio: "0.8" }, "minFactualRatio"], [{ randomSets: 1 }, "randomSets"]] as const) {
    t.equal(firstOutOfLimits(options)?.name, name, JSON.stringify(options));
  }
  t.throws(() => checkOptions({ maxKl: -1 }, "run"), { code: "E_ARGUMENT", message: "The run option maxKl must be a number from 0 to 100, not -1." });
  t.throws(() => checkOptions({ minFactualRatio: "high" }, "run"), { code: "E_ARGUMENT", message: 'The run option minFactualRatio must be a number from 0 to 1, not "high".' });
});

t.test("the library refuses an option outside its limits before any work", async (t) => {
  const path = fixturePath("llama-localized");
  const workload = await defaultWorkload("demo");
  await t.rejects(run(path, workload, { maxKl: -1 }), { code: "E_ARGUMENT", message: /maxKl must be a number from 0 to 100, not -1/ });
  await t.rejects(run(path, workload, { scale: 1 }), { code: "E_ARGUMENT", message: /scale must be a number from 0 up to \(not including\) 1, not 1/ });
  await t.rejects(run(path, workload, { evaluator: { threads: 0 } }), { code: "E_ARGUMENT", message: /threads must be a whole number from 1 to 1024, not 0/ });
  await t.rejects(DebiasModel.load(path, { gpuLayers: 1.5 }), { code: "E_ARGUMENT", message: /gpuLayers must be a whole number/ });
  const model = await DebiasModel.load(path);
  t.teardown(() => model.dispose());
  await t.rejects(model.createEvaluator({ threads: 2000 }), { code: "E_ARGUMENT", message: /The evaluator option threads must be a whole number from 1 to 1024, not 2000\./ });
  await t.rejects(compareContinuations(path, path, ["I told the nurse"], { tokens: 0 }), { code: "E_ARGUMENT", message: /tokens must be a whole number from 1 to 1024/ });
});
