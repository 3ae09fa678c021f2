// Which probes and neutral text suit a model: the user's dataset if given; the model's own fixture
// manifest when it is one of our test models (their vocabulary only knows the manifest's words);
// otherwise the bundled CommonWords dataset and neutral text.
import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { defaultWorkload, manifestWorkload, readNeutralText, type Workload } from "../pipeline.js";
import { packageRoot } from "../package-root.js";

interface Manifest {
  dataset: unknown;
  models: Record<string, { file: string }>;
}

function fixtureManifest(modelPath: string): Manifest | null {
  const file = join(dirname(modelPath), "manifest.json");
  if (!existsSync(file)) return null;
  const manifest = JSON.parse(readFileSync(file, "utf8")) as Manifest;
  const stem = basename(modelPath).replace(/\.(debiased\.)?gguf$/, "").replace(/\.[a-z0-9_]+$/, "");
  return Object.values(manifest.models ?? {}).some((m) => m.file.replace(/\.f32\.gguf$/, "") === stem) ? manifest : null;
}

/** The probes and neutral text for a model; `neutralFile` (one sentence a line) replaces the neutral text. */
export async function workloadFor(modelPath: string, datasetFile?: string, neutralFile?: string): Promise<Workload & { source: string }> {
  if (datasetFile) return { ...(await defaultWorkload(datasetFile, neutralFile)), source: datasetFile };
  const manifest = fixtureManifest(modelPath);
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
