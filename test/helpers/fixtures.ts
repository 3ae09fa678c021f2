// The one place native tests get fixture models from: paths, the manifest's ground truth, and models
// that are disposed when the test ends.
import { existsSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import type { Test } from "tap";
import { DebiasModel } from "../../lib/llama/model.js";
import type { Evaluator, EvaluatorOptions } from "../../lib/llama/evaluator.js";
import { packageRoot } from "../../lib/package-root.js";

export const FIXTURES = join(packageRoot(), "test", "fixtures");

export interface ReferencePrompt {
  text: string;
  tokens: number[];
}

export interface FixtureModel {
  arch: string;
  kind: "localized" | "distributed" | "prior" | "random";
  file: string;
  config: { nLayer: number; nEmbd: number; nFf: number; nVocab: number };
  designatedNeurons?: { layer: number; index: number }[];
  reference?: {
    prompts: ReferencePrompt[];
    lastLogprobs: number[][];
    activations: { prompt: number; layer: number; position: number; values: number[] }[];
    zeroed: { neurons: { layer: number; index: number }[]; lastLogprobs: number[][] }[];
  };
}

export interface Manifest {
  models: Record<string, FixtureModel>;
  dataset: unknown;
}

export const manifest = JSON.parse(readFileSync(join(FIXTURES, "manifest.json"), "utf8")) as Manifest;

export const TRAINED = Object.entries(manifest.models).filter(([, m]) => m.kind !== "random").map(([name]) => name);
export const RANDOM = Object.entries(manifest.models).filter(([, m]) => m.kind === "random").map(([name]) => name);
/** Types made from each trained F32 fixture by test/fixtures/recipe/quantize.mjs. */
export const TYPES = ["f32", "f16", "q8_0", "q6_k", "q4_k", "q4_0"] as const;
export type FixtureType = (typeof TYPES)[number];

export function fixturePath(name: string, type: FixtureType = "f32"): string {
  const model = manifest.models[name];
  if (!model) throw new Error(`no fixture model ${name}`);
  // the demo model's F32 ships in models/ (the manifest gives it relative to test/fixtures); every quantized variant is here
  const path = type === "f32" ? join(FIXTURES, model.file) : join(FIXTURES, basename(model.file).replace(/\.f32\.gguf$/, `.${type}.gguf`));
  if (!existsSync(path)) throw new Error(`fixture ${path} is missing: run node test/fixtures/recipe/quantize.mjs`);
  return path;
}

/** Loads a fixture (and an evaluator on it) for the duration of test `t`. */
export async function openFixture(
  t: Test,
  name: string,
  type: FixtureType = "f32",
  options: EvaluatorOptions = {},
): Promise<{ model: DebiasModel; evaluator: Evaluator }> {
  const model = await DebiasModel.load(fixturePath(name, type));
  t.teardown(() => model.dispose());
  const evaluator = await model.createEvaluator({ nCtx: 512, nSeqMax: 32, threads: 2, ...options });
  return { model, evaluator };
}

/** Groups {layer, index} neurons into one zeroing intervention per layer. */
export function zeroing(neurons: readonly { layer: number; index: number }[]): { layer: number; neurons: number[] }[] {
  const byLayer = new Map<number, number[]>();
  for (const n of neurons) byLayer.set(n.layer, [...(byLayer.get(n.layer) ?? []), n.index]);
  return [...byLayer].map(([layer, list]) => ({ layer, neurons: list }));
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} ≠ ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

export function sameBits(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}
