// Which probes and neutral text suit a model: the user's dataset if given; the demo dataset when the
// model has the demo model's vocabulary (it spells only the demo's words), wherever the file was copied
// to; otherwise the bundled CommonWords dataset and neutral text.
import { join } from "node:path";
import { defaultWorkload, type Workload } from "./workload.js";
import { packageRoot } from "../package-root.js";
import { vocabularyOf } from "../llama/vocabulary.js";
import { datasetPath } from "./dataset.js";

async function hasDemoVocabulary(modelPath: string): Promise<boolean> {
  const [model, demo] = await Promise.all([vocabularyOf(modelPath), vocabularyOf(defaultModelPath())]);
  return model.sha256 === demo.sha256;
}

/**
 * The probes and neutral text for a model; `dataset` is a file or a bundled dataset's name
 * ("commonwords", "tinystories", "demo"); `neutralFile` (one sentence a line) replaces the neutral text.
 */
export async function workloadFor(modelPath: string, dataset?: string, neutralFile?: string): Promise<Workload & { source: string }> {
  const name = dataset ?? ((await hasDemoVocabulary(modelPath)) ? "demo" : undefined);
  if (name === undefined) return { ...(await defaultWorkload(undefined, neutralFile)), source: "the bundled CommonWords dataset" };
  const bundled = datasetPath(name) !== name;
  return { ...(await defaultWorkload(name, neutralFile)), source: bundled ? `the bundled ${name} dataset` : name };
}

/** The small model shipped with the package, whose bias lives in 16 known FFN neurons. */
export function defaultModelPath(): string {
  return join(packageRoot(), "models", "llama-localized.f32.gguf");
}
