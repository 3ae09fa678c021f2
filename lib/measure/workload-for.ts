// Which probes and neutral text suit a model: the user's dataset if given; the fixture manifest's when
// the model has our test models' vocabulary (it only spells the manifest's words), wherever the file
// was copied to; otherwise the bundled CommonWords dataset and neutral text.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { defaultWorkload, manifestWorkload, readNeutralText, type Workload } from "./workload.js";
import { packageRoot } from "../package-root.js";
import { vocabularyOf } from "../llama/vocabulary.js";
import { datasetPath } from "./dataset.js";

async function fixtureManifest(modelPath: string): Promise<{ dataset: unknown } | null> {
  const [model, fixture] = await Promise.all([vocabularyOf(modelPath), vocabularyOf(defaultModelPath())]);
  if (model.sha256 !== fixture.sha256) return null;
  return JSON.parse(readFileSync(join(packageRoot(), "test", "fixtures", "manifest.json"), "utf8")) as { dataset: unknown };
}

/**
 * The probes and neutral text for a model; `dataset` is a file or a bundled dataset's name
 * ("commonwords", "tinystories"); `neutralFile` (one sentence a line) replaces the neutral text.
 */
export async function workloadFor(modelPath: string, dataset?: string, neutralFile?: string): Promise<Workload & { source: string }> {
  if (dataset) {
    const bundled = datasetPath(dataset) !== dataset;
    return { ...(await defaultWorkload(dataset, neutralFile)), source: bundled ? `the bundled ${dataset} dataset` : dataset };
  }
  const manifest = await fixtureManifest(modelPath);
  if (manifest) {
    const workload = manifestWorkload(manifest);
    return { ...workload, ...(neutralFile ? { neutralText: await readNeutralText(neutralFile) } : {}), source: "the fixture manifest" };
  }
  return { ...(await defaultWorkload(undefined, neutralFile)), source: "the bundled CommonWords dataset" };
}

/** The small model shipped with the package, whose bias lives in 16 known FFN neurons. */
export function defaultModelPath(): string {
  return join(packageRoot(), "test", "fixtures", "llama-localized.f32.gguf");
}
