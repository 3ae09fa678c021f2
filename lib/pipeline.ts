// The whole job: measure, locate, select, edit, then re-open the edited file and measure again, on the
// held-out words too — and say plainly whether neuron editing could remove the bias.
import { datasetFromManifest, loadDataset, probes, type BiasDataset } from "./bias/dataset.js";
import type { BiasScore } from "./bias/metrics.js";
import { compareRuns, defaultNeutralSentences, NeutralText, type Capability, type NeutralRun } from "./bias/neutral-text.js";
import { ProbeSet } from "./bias/probe-set.js";
import type { Baseline } from "./attribution/causal.js";
import { locate, type LocatedNeuron, type LocateOptions, type LocateResult } from "./attribution/locate.js";
import { editInPlace, editToNewFile } from "./gguf/editor.js";
import { openGguf } from "./gguf/reader.js";
import type { Evaluator, EvaluatorOptions } from "./llama/evaluator.js";
import { LlamaModel } from "./llama/model.js";
import { nativeRequantizer } from "./requantizer.js";
import { selectNeurons, type EditedNeuron, type Selection, type SelectionOptions } from "./selection.js";
import { TOOL } from "./version.js";

export interface Workload {
  dataset: BiasDataset;
  neutralText: string[];
}

/** The bundled CommonWords dataset and neutral text, or a user's dataset file. */
export async function defaultWorkload(datasetFile?: string): Promise<Workload> {
  return { dataset: await loadDataset(datasetFile), neutralText: defaultNeutralSentences() };
}

/** A fixture model's own dataset and neutral text, from its manifest (its vocabulary is tiny). */
export function manifestWorkload(manifest: { dataset: unknown }): Workload {
  const section = manifest.dataset as Parameters<typeof datasetFromManifest>[0] & { neutralText: string[] };
  return { dataset: datasetFromManifest(section), neutralText: section.neutralText };
}

export interface Session {
  model: LlamaModel;
  evaluator: Evaluator;
  probes: ProbeSet;
  neutral: NeutralText;
}

export async function openSession(path: string, workload: Workload, options: EvaluatorOptions = {}): Promise<Session> {
  const model = await LlamaModel.load(path);
  try {
    const evaluator = await model.createEvaluator({ nCtx: 1024, nSeqMax: 128, ...options });
    return { model, evaluator, probes: ProbeSet.build(model, probes(workload.dataset)), neutral: new NeutralText(model, workload.neutralText) };
  } catch (err) {
    model.dispose();
    throw err;
  }
}

/**
 * What attribution and selection compare against: the selection-split probes that carry gender
 * (stereotyped and factual), measured once on the unedited model, and the neutral text.
 */
export async function selectionBaseline(session: Session, neutralRun?: NeutralRun): Promise<Baseline> {
  const probes = session.probes.filter((p) => p.split === "selection" && p.label !== "neutral");
  const b = await probes.measure(session.evaluator);
  return { probes, b, score: probes.scoreOf(b), neutral: session.neutral, neutralRun: neutralRun ?? (await session.neutral.run(session.evaluator)) };
}

/** Runs `fn` on a session and disposes the model afterwards, whatever happens. */
export async function withSession<T>(path: string, workload: Workload, options: EvaluatorOptions, fn: (session: Session) => Promise<T>): Promise<T> {
  const session = await openSession(path, workload, options);
  try {
    return await fn(session);
  } finally {
    session.model.dispose();
  }
}

export type VerdictKind = "removed" | "reduced" | "not-localized";

export interface Verdict {
  kind: VerdictKind;
  /** 1 − after/before of the held-out stereotyped bias. */
  heldoutReduction: number;
  sentence: string;
}

export interface RunOptions extends SelectionOptions, LocateOptions {
  /** Write the edited model here (default: <model>.debiased.gguf) … */
  output?: string;
  /** … or edit the model itself, journaled and undoable. */
  inPlace?: boolean;
  /** Replace `output` if it exists. */
  overwrite?: boolean;
  evaluator?: EvaluatorOptions;
}

export interface RunResult {
  file: string;
  before: BiasScore;
  after: BiasScore;
  eval: Capability;
  neurons: LocatedNeuron[];
  edited: EditedNeuron[];
  locate: Omit<LocateResult, "neurons">;
  selection: Omit<Selection, "neurons">;
  verdict: Verdict;
}

export function verdictOf(before: BiasScore, after: BiasScore, edited: number): Verdict {
  const b0 = before.splits.heldout.bias ?? 0;
  const b1 = after.splits.heldout.bias ?? 0;
  const reduction = b0 > 0 ? 1 - b1 / b0 : 0;
  const percent = `${(100 * reduction).toFixed(1)}%`;
  if (edited === 0) {
    return { kind: "not-localized", heldoutReduction: 0, sentence: "No FFN neuron lowers the bias beyond noise within the damage budget: this bias is not held by FFN neurons, so neuron editing cannot remove it. Nothing was edited." };
  }
  if (reduction >= 0.8) return { kind: "removed", heldoutReduction: reduction, sentence: `Editing ${edited} FFN neurons removed ${percent} of the stereotyped bias on held-out words.` };
  if (reduction >= 0.3) return { kind: "reduced", heldoutReduction: reduction, sentence: `Editing ${edited} FFN neurons removed ${percent} of the stereotyped bias on held-out words; the rest is not held by FFN neurons that can be edited within the damage budget.` };
  return { kind: "not-localized", heldoutReduction: reduction, sentence: `The bias is not localized in FFN neurons: editing ${edited} neurons within the damage budget removed only ${percent} of it on held-out words.` };
}

export async function run(path: string, workload: Workload, options: RunOptions = {}): Promise<RunResult> {
  const stage = (name: string) => options.onProgress?.(name, 0, 1);
  const { before, baseNeutral, located, selection } = await withSession(path, workload, options.evaluator ?? {}, async (session) => {
    const { model, evaluator } = session;
    stage("measuring the original model");
    const before = await session.probes.score(evaluator);
    const baseNeutral = await session.neutral.run(evaluator);
    const base = await selectionBaseline(session, baseNeutral);
    stage("locating bias neurons");
    const located = await locate(model, await openGguf(path), evaluator, base, options);
    stage("selecting neurons under the damage budget");
    const total = model.facts.nLayer * (model.facts.nFf ?? 0);
    const selection = await selectNeurons(evaluator, base, located.neurons, total, located.noise.noiseFloor, options);
    return { before, baseNeutral, located, selection };
  });

  const edits = selection.neurons.map(({ layer, index, scale }) => ({ layer, index, scale }));
  let file = path;
  if (options.inPlace) {
    if (edits.length > 0) {
      stage("editing the model in place");
      await editInPlace(path, edits, { requantizer: nativeRequantizer, tool: TOOL });
    }
  } else {
    file = options.output ?? path.replace(/(\.gguf)?$/, ".debiased.gguf");
    stage(`writing the edited model to ${file}`);
    await editToNewFile(path, file, edits, { requantizer: nativeRequantizer, tool: TOOL, overwrite: options.overwrite ?? false });
  }

  stage("verifying the edited file");
  return withSession(file, workload, options.evaluator ?? {}, async (check) => {
    const after = await check.probes.score(check.evaluator);
    const capability = compareRuns(baseNeutral, await check.neutral.run(check.evaluator));
    const { neurons, ...locateRest } = located;
    const { neurons: edited, ...selectionRest } = selection;
    return { file, before, after, eval: capability, neurons, edited, locate: locateRest, selection: selectionRest, verdict: verdictOf(before, after, edited.length) };
  });
}
