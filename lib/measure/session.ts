// A session: one model opened for evaluation with a workload's probes and neutral text, and the
// original model's score on them — what every stage measures against.
import { bundledDatasetPaths, loadDataset, probes, type BiasDataset, type Gender, type Probe } from "./dataset.js";
import type { BiasScore, ScoreOptions } from "./metrics.js";
import { NeutralText } from "./neutral-text.js";
import { ProbeSet, splitWords } from "./probe-set.js";
import type { Workload } from "./workload.js";
import type { Evaluator } from "../llama/evaluator.js";
import { DebiasModel, loadAndEvaluatorOptions, type EvaluationOptions } from "../llama/model.js";

export interface Session {
  model: DebiasModel;
  evaluator: Evaluator;
  probes: ProbeSet;
  neutral: NeutralText;
}

/**
 * A vocabulary that spells most probe words in pieces measures them poorly (a test model's word list on
 * a real model, or a dataset in another language): say so as a process warning (code GGUF_DEBIAS_SPLIT_WORDS).
 */
async function warnIfSplit(model: DebiasModel, dataset: BiasDataset, list: readonly Probe[]): Promise<void> {
  const { split, total } = splitWords(model, list);
  if (split.length * 2 <= total) return;
  const e = split[0]!;
  // A bundled dataset this vocabulary spells whole more often is the first thing to try.
  const others = await Promise.all(Object.keys(bundledDatasetPaths()).filter((name) => name !== dataset.name).map(async (name) => ({ name, ...splitWords(model, probes(await loadDataset(name))) })));
  const better = others.filter((o) => o.split.length / o.total < split.length / total).sort((a, b) => a.split.length / a.total - b.split.length / b.total)[0];
  const advice = better
    ? `the bundled ${better.name} dataset suits this vocabulary better (${better.split.length} of ${better.total} words split): --dataset ${better.name}`
    : `no bundled dataset suits this vocabulary better (a small vocabulary spells most words in pieces), so read the figures with care, or give a dataset file in words the model spells whole (--dataset FILE)`;
  process.emitWarning(
    `${split.length} of ${total} probe words of the ${dataset.name} dataset split into 3 or more tokens on the vocabulary of ${model.facts.path} (e.g. "${e.word}" into ${e.tokens}), so its bias is measured on word fragments; ${advice}.`,
    { code: "GGUF_DEBIAS_SPLIT_WORDS" });
}

/**
 * Tokens per evaluation: 1024, fewer for large vocabularies. llama.cpp reserves logits for every token
 * of a batch (vocabulary × tokens floats): 512 MB at 1024 tokens of a 128k vocabulary. Keeping that
 * near 128 MB costs little speed (256-token batches of a 1B model still fill the matrix kernels).
 */
export function batchTokens(nVocab: number): number {
  let n = 1024;
  while (n > 128 && n * nVocab * 4 > 2 ** 27) n /= 2;
  return n;
}

async function loadForEvaluation(path: string, options: EvaluationOptions): Promise<{ model: DebiasModel; evaluator: Evaluator }> {
  const { load, evaluator } = loadAndEvaluatorOptions(options);
  const model = await DebiasModel.load(path, load);
  try {
    return { model, evaluator: await model.createEvaluator({ nCtx: batchTokens(model.facts.nVocab), nSeqMax: 128, ...evaluator }) };
  } catch (err) {
    model.dispose();
    throw err;
  }
}

export async function openSession(path: string, workload: Workload, options: EvaluationOptions = {}): Promise<Session> {
  const { model, evaluator } = await loadForEvaluation(path, options);
  try {
    const list = probes(workload.dataset);
    await warnIfSplit(model, workload.dataset, list);
    return { model, evaluator, probes: ProbeSet.build(model, list), neutral: new NeutralText(model, workload.neutralText) };
  } catch (err) {
    model.dispose();
    throw err;
  }
}

/** Runs `fn` on a session and disposes the model afterwards, whatever happens. */
export async function withSession<T>(path: string, workload: Workload, options: EvaluationOptions, fn: (session: Session) => Promise<T>): Promise<T> {
  const session = await openSession(path, workload, options);
  try {
    return await fn(session);
  } finally {
    session.model.dispose();
  }
}

/**
 * Runs `fn` on a model's neutral text alone and disposes the model afterwards: no probes are built, so
 * nothing is said about how the model's vocabulary spells probe words it will not measure.
 */
export async function withNeutralText<T>(path: string, sentences: readonly string[], options: EvaluationOptions, fn: (neutral: NeutralText, evaluator: Evaluator, model: DebiasModel) => Promise<T>): Promise<T> {
  const { model, evaluator } = await loadForEvaluation(path, options);
  try {
    return await fn(new NeutralText(model, sentences), evaluator, model);
  } finally {
    model.dispose();
  }
}

/**
 * Directions for stereotyped words the dataset leaves open: the way the original model leans for each,
 * relative to its baseline (mean residual over all its probes). Fixed before any edit, so an edit that
 * overshoots shows as a negative gap instead of a new stereotype.
 */
export function inferredDirections(score: BiasScore): Map<string, Gender> {
  const sums = new Map<string, number>();
  for (const w of score.words) if (w.label === "stereotyped" && w.direction === undefined) sums.set(w.word, (sums.get(w.word) ?? 0) + w.residual);
  return new Map([...sums].map(([word, r]) => [word, r >= 0 ? "female" : "male"]));
}

/** The original model's score on every probe, with the directions the dataset leaves open filled in. */
export async function scoreOriginal(session: Session): Promise<{ b: Float64Array; score: BiasScore; scoreOptions: ScoreOptions }> {
  const b = await session.probes.measure(session.evaluator);
  const plain = session.probes.scoreOf(b);
  const directions = inferredDirections(plain);
  if (directions.size === 0) return { b, score: plain, scoreOptions: {} };
  return { b, score: session.probes.scoreOf(b, { directions }), scoreOptions: { directions } };
}
