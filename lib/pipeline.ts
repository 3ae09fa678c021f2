// The whole job: measure, locate, select, check the chosen set against random sets, edit only when the
// held-out numbers say the edit helps, then re-open the edited file and measure again — and say plainly
// what neuron editing could and could not do.
import { rm } from "node:fs/promises";
import { basename, resolve } from "node:path";
import { uneditedCapability } from "./measure/neutral-text.js";
import { scoreOriginal, withSession, type Session } from "./measure/session.js";
import { selectionBaseline } from "./locate/baseline.js";
import { hookEffects } from "./locate/causal.js";
import { defaultCandidates, locate, rankByDirectEffect, type Candidate, type LocateOptions, type LocateResult } from "./locate/locate.js";
import { checkInPlaceTarget, editInPlace, undo } from "./edit/editor.js";
import { checkNewFileTarget, editToNewFile } from "./edit/new-file.js";
import { sha256File } from "./files.js";
import { openGguf } from "./gguf/reader.js";
import type { Workload } from "./measure/workload.js";
import type { RunBenchmarks, RunCost, RunProvenance, RunResult } from "./verify/run-result.js";
import { loadBenchmarks, scoreBenchmarksOnModel, type BenchmarkScores, type BenchmarkSource } from "./measure/standard-benchmarks.js";
import { interventionsFor } from "./locate/neurons.js";
import type { InterventionSpec } from "./llama/evaluator.js";
import type { EvaluationOptions } from "./llama/model.js";
import type { ObjectiveKind } from "./measure/objective.js";
import { compareWithRandomSets } from "./select/random-sets.js";
import { chooseSearch, passTokens, searchBudget, thoroughPasses } from "./select/search-plan.js";
import { searchRanked } from "./select/ranked-search.js";
import { selectNeurons, type SearchKind, type SearchResult, type SelectionOptions } from "./select/selection.js";
import { judgedSplit, preVerdict, verdictOf, type Verdict, type VerdictThresholds } from "./verify/verdict.js";
import { TOOL } from "./version.js";
import { DebiasError } from "./errors.js";
import { native } from "./native.js";
import { DEFAULTS } from "./defaults.js";
import { checkOptions } from "./option-limits.js";

/** Where a run is: the `stage`-th of its `stages` (measuring, locating, selecting, comparing, writing, verifying), named. */
export interface RunStage {
  stage: number;
  stages: number;
  name: string;
  /** Passes spent so far, and the passes the whole run is expected to take (0 until the search is chosen). */
  passes: number;
  plannedPasses: number;
}

/** Told of every step: its label, how far it got, and within a run, which stage of the run it belongs to. */
export type ProgressReporter = (label: string, done: number, total: number, run?: RunStage) => void;

/** Measuring, locating (or ranking), selecting, comparing with random sets, writing, verifying. */
const RUN_STAGES = 6;

export interface RunOptions extends SelectionOptions, LocateOptions, VerdictThresholds {
  onProgress?: ProgressReporter;
  /** Write the edited model here, as a new file … */
  output?: string;
  /** … or edit the model itself, journaled and undoable. With neither, nothing is written: the run measures and predicts. */
  inPlace?: boolean;
  /** Replace `output` if it exists. */
  overwrite?: boolean;
  /** What to remove: the stereotype gap (default) or the prior skew. */
  objective?: ObjectiveKind;
  /**
   * How to search: "thorough" zeroes every candidate alone and re-screens them on top of the set each
   * round (hundreds of passes); "fast" ranks candidates by direct effect and measures sets within
   * `maxPasses`; "exhaustive" is the thorough search over four times the candidates, the reference the
   * others are judged by; "auto" (default) is thorough when its estimated work fits `thoroughWork`.
   */
  search?: SearchKind | "auto";
  /**
   * What a run with the fast search may cost in all, in passes. Default 15. The search gets what the
   * rest of the run does not need (measuring, ranking, the prediction, four random sets, verifying),
   * and at least 3.
   */
  maxPasses?: number;
  /** Passes the fast search may spend on sets, instead of what `maxPasses` leaves it. */
  searchPasses?: number;
  /** Largest estimated thorough search that "auto" still chooses, in parameter-tokens. Default 1.5e14 (about 10 minutes on 2 cores). */
  thoroughWork?: number;
  /** Random sets the chosen one is compared with. Default 20 (thorough search) or 8 (fast). */
  randomSets?: number;
  /** Threads, batch and GPU offload of every model the run opens. */
  evaluator?: EvaluationOptions;
  /** The command line that asked for this run, recorded in the result (the CLI passes its own). */
  command?: string;
  /**
   * Cancels the run at its next step (rejecting with E_ABORTED, nothing written) until the edited model
   * starts being written; from then on the run finishes, so a file is never left half written or
   * unverified.
   */
  signal?: AbortSignal;
  /**
   * Standard benchmarks scored on the original model, with the chosen set through the hook, and on the
   * written file: loaded and checked before any model work. They never steer the search or the verdict.
   */
  benchmarks?: readonly BenchmarkSource[];
}

/** Where the CLI's `run` writes by default: `<model name>.debiased.gguf` in the current directory. */
export function defaultOutput(model: string): string {
  return resolve(basename(model).replace(/(\.gguf)?$/, ".debiased.gguf"));
}


/** The part of a run's options one stage uses, set ones only: no stage is handed the whole bag. */
function part<K extends keyof RunOptions>(options: RunOptions, keys: readonly K[]): Pick<RunOptions, K> {
  return Object.fromEntries(keys.filter((k) => options[k] !== undefined).map((k) => [k, options[k]])) as Pick<RunOptions, K>;
}
const LOCATE_OPTIONS = ["candidates", "neutralCandidates", "randomNeurons", "maxKl", "minFactualRatio", "seed"] as const satisfies readonly (keyof LocateOptions)[];
const SELECTION_OPTIONS = ["maxKl", "minFactualRatio", "maxNeurons", "scale", "minGain", "stopAt"] as const satisfies readonly (keyof SelectionOptions)[];
const VERDICT_OPTIONS = ["minFactualAccuracy", "minReduction", "minZ", "minSpecificity", "minGap"] as const satisfies readonly (keyof VerdictThresholds)[];

export async function run(path: string, workload: Workload, options: RunOptions = {}): Promise<RunResult> {
  checkOptions(options, "run");
  checkOptions(options.evaluator ?? {}, "run's evaluator");
  if (options.signal?.aborted) throw new DebiasError("E_ABORTED", "The run was cancelled before it started.", { cause: options.signal.reason });
  const objective = options.objective ?? "stereotype";
  // A library call writes only where it is told to: a new file, or the model itself.
  const writes = options.inPlace === true || options.output !== undefined;
  const output = options.inPlace ? null : (options.output ?? null);
  // A destination that cannot be written fails now, not after minutes of measuring.
  if (output !== null) await checkNewFileTarget(path, output, options.overwrite ?? false);
  else if (writes) await checkInPlaceTarget(path);
  const benchmarks = options.benchmarks?.length ? await loadBenchmarks(options.benchmarks) : null;
  const startedAt = new Date().toISOString();
  const inputSha256 = await sha256File(path);
  const provenance = (written: { path: string; sha256: string } | null): RunProvenance => ({
    tool: TOOL, llamaCommit: native().buildInfo().llamaCommit, command: options.command ?? null, startedAt, dataset: workload.dataset.name, model: { path, sha256: inputSha256 }, output: written,
  });
  const stages: RunCost["stages"] = {};
  // tokens of evaluators already closed, plus a reader of the one in use
  let closedTokens = 0;
  let openTokens = (): number => 0;
  const tokens = (): number => closedTokens + openTokens();
  // set once the model's tokenizer has measured the dataset
  let tokensPerPass = 0;
  const asPasses = (n: number) => (tokensPerPass > 0 ? Math.round((10 * n) / tokensPerPass) / 10 : 0);
  let stageName = "";
  let stageNumber = 0;
  let stageStart = { at: performance.now(), tokens: 0 };
  // taking a bad edit back is a seventh stage
  let plannedPasses = 0;
  const where = (): RunStage => ({ stage: stageNumber, stages: Math.max(RUN_STAGES, stageNumber), name: stageName, passes: tokensPerPass > 0 ? tokens() / tokensPerPass : 0, plannedPasses });
  let writing = false;
  const checkAborted = () => {
    if (!writing && options.signal?.aborted) throw new DebiasError("E_ABORTED", "The run was cancelled before anything was written.", { cause: options.signal.reason });
  };
  // Every step reports progress, between evaluations: where a cancellation can stop the run cleanly.
  const onProgress = (label: string, done: number, total: number) => {
    checkAborted();
    options.onProgress?.(label, done, total, where());
  };
  const stage = (name: string) => {
    if (stageName) {
      const s = (stages[stageName] ??= { seconds: 0, passes: 0, tokens: 0 });
      s.seconds += (performance.now() - stageStart.at) / 1000;
      s.tokens += tokens() - stageStart.tokens;
      s.passes = asPasses(s.tokens);
    }
    stageName = name;
    stageStart = { at: performance.now(), tokens: tokens() };
    if (name) {
      stageNumber += 1;
      onProgress(name, 0, 1);
    }
  };
  const cost = (): RunCost => ({
    passes: asPasses(tokens()),
    tokensPerPass,
    tokens: tokens(),
    stages,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
  });
  // Benchmarks cost tokens like anything else, but the fast search's budget must not shrink because a
  // user asked for them: same probes, same search, same set.
  let benchmarkTokens = 0;
  const scoreBenchmarksOn = async (session: Session, interventions: readonly InterventionSpec[] = []): Promise<BenchmarkScores | null> => {
    if (benchmarks === null) return null;
    const start = session.evaluator.tokensEvaluated;
    try {
      return await scoreBenchmarksOnModel(benchmarks, session.model, session.evaluator, interventions, (name, done, total) => onProgress(`scoring ${name}${interventions.length ? " with the chosen set" : ""}`, done, total));
    } finally {
      benchmarkTokens += session.evaluator.tokensEvaluated - start;
    }
  };
  const counted = async <T>(session: Session, fn: () => Promise<T>): Promise<T> => {
    openTokens = () => session.evaluator.tokensEvaluated;
    try {
      return await fn();
    } finally {
      closedTokens += session.evaluator.tokensEvaluated;
      openTokens = () => 0;
    }
  };

  const measured = await withSession(path, workload, options.evaluator ?? {}, (session) => counted(session, async () => {
    const { model, evaluator } = session;
    stage("measuring the original model");
    const original = await scoreOriginal(session);
    const baseNeutral = await session.neutral.run(evaluator);
    tokensPerPass = passTokens(session);
    const benchBefore = await scoreBenchmarksOn(session);
    const early = preVerdict(original.score, objective, part(options, VERDICT_OPTIONS));
    if (early) return { before: original.score, baseNeutral, benchBefore, early } as const;
    const base = await selectionBaseline(session, objective, original, baseNeutral);
    const nFf = model.facts.nFf ?? 0;
    const total = model.facts.nLayer * nFf;
    const search = chooseSearch(options, total, model.facts.nParams, tokensPerPass);
    // what the ETA of the whole run is reckoned on: the fast search's pass budget, or the thorough one's estimate
    plannedPasses = search === "fast"
      ? (options.searchPasses !== undefined ? tokens() / tokensPerPass + options.searchPasses + 5 : (options.maxPasses ?? DEFAULTS.maxPasses))
      : thoroughPasses(search === "exhaustive" ? { ...options, candidates: Math.min(total, 4 * (options.candidates ?? defaultCandidates(total))) } : options, total);
    let located: { neurons: Candidate[]; locate: Omit<LocateResult, "neurons"> | null };
    let selection: SearchResult;
    if (search === "fast") {
      stage("ranking candidate neurons by direct effect");
      const ranked = await rankByDirectEffect(model, await openGguf(path), evaluator, base, part(options, ["candidates"]));
      stage("selecting a set of neurons");
      selection = await searchRanked(hookEffects(evaluator, base), base, ranked, total, options.searchPasses ?? searchBudget(session, (tokens() - benchmarkTokens) / tokensPerPass, judgedSplit(original.score, objective), options.maxPasses ?? DEFAULTS.maxPasses), { ...part(options, SELECTION_OPTIONS), onProgress });
      located = { neurons: ranked, locate: null };
    } else {
      stage("locating candidate neurons");
      // The reference search screens four times the candidates (every neuron of a small model).
      const wide = search === "exhaustive" ? { candidates: Math.min(total, 4 * (options.candidates ?? defaultCandidates(total))) } : {};
      const { neurons, ...rest } = await locate(model, await openGguf(path), evaluator, base, { ...part(options, LOCATE_OPTIONS), ...wide, onProgress });
      stage("selecting a set of neurons");
      selection = await selectNeurons(hookEffects(evaluator, base), base, neurons, total, rest.noise.dLossStd, { ...part(options, SELECTION_OPTIONS), onProgress }, search);
      located = { neurons, locate: rest };
    }
    if (selection.neurons.length === 0) return { before: original.score, baseNeutral, benchBefore, located, selection, predicted: null, random: null, benchPredicted: null } as const;
    stage("comparing with random sets of neurons");
    // After a fast search the comparison may stop at 4 sets when they settle it: on a large model each
    // set is another pass over the held-out probes.
    const sets = options.randomSets ?? (search === "fast" ? 8 : 20);
    const { chosen, comparison } = await compareWithRandomSets(evaluator, session.probes, original.b, selection.neurons, selection.selectionB, {
      sets, minSets: search === "fast" ? 4 : sets, minZ: options.minZ, seed: options.seed ?? DEFAULTS.seed, nFf, objective, scoreOptions: original.scoreOptions, split: judgedSplit(original.score, objective),
    });
    const benchPredicted = await scoreBenchmarksOn(session, interventionsFor(selection.neurons));
    return { before: original.score, baseNeutral, benchBefore, located, selection, predicted: chosen, random: comparison, benchPredicted, scoreOptions: original.scoreOptions } as const;
  }));

  const { before, baseNeutral } = measured;
  const benchmarkResult = (predicted: BenchmarkScores | null, after: BenchmarkScores | null): RunBenchmarks | null =>
    measured.benchBefore ? { sources: [...benchmarks!.sources], before: measured.benchBefore, predicted, after } : null;
  const unchanged = (verdict: Verdict, extra: Partial<RunResult> = {}): RunResult => {
    stage("");
    return { file: path, written: false, inPlace: false, objective, before, after: before, predicted: null, eval: uneditedCapability(baseNeutral), neurons: [], selected: [], edited: [], locate: null, selection: null, randomSets: null, verdict, benchmarks: benchmarkResult(measured.early ? null : measured.benchPredicted, null), cost: cost(), provenance: provenance(null), ...extra };
  };
  if (measured.early) return unchanged(measured.early);

  const { located, selection, predicted, random } = measured;
  const { neurons: edits, selectionB: _measured, ...selectionRest } = selection;
  const found = { neurons: located.neurons, selected: edits, locate: located.locate, selection: selectionRest, randomSets: random, predicted };
  // Decide from the hook's numbers (the edited file gives the same logits) before touching any file.
  const foreseen = verdictOf(before, predicted ?? before, edits.length, objective, random, selection, part(options, VERDICT_OPTIONS));
  if (foreseen.kind !== "removed" && foreseen.kind !== "reduced") return unchanged(foreseen, found);
  if (!writes) return unchanged({ ...foreseen, sentence: `${foreseen.sentence} No output was asked for (output or inPlace), so nothing was written: the numbers are the chosen set's, measured through the hook.` }, found);

  const file = output ?? path;
  let writtenSha256: string;
  if (output === null) {
    stage("editing the model in place");
    writing = true;
    await editInPlace(path, edits, { tool: TOOL });
    writtenSha256 = await sha256File(path);
  } else {
    stage(`writing the edited model to ${output}`);
    writing = true;
    writtenSha256 = (await editToNewFile(path, output, edits, { tool: TOOL, overwrite: options.overwrite ?? false })).sha256;
  }

  stage("verifying the edited file");
  const verified = await withSession(file, workload, options.evaluator ?? {}, (check) => counted(check, async () => {
    const b = await check.probes.measure(check.evaluator);
    const after = check.probes.scoreOf(b, measured.scoreOptions);
    const capability = await check.neutral.compare(check.evaluator, baseNeutral);
    return { after, capability, bench: await scoreBenchmarksOn(check) };
  }));
  const verdict = verdictOf(before, verified.after, edits.length, objective, random, selection, part(options, VERDICT_OPTIONS));
  if (verdict.kind !== "removed" && verdict.kind !== "reduced") {
    // The file disagrees with the hook (a scaled quantized column, say): an edit that does not help is not kept.
    stage("taking the edit back");
    if (output === null) await undo(path);
    else await rm(output, { force: true });
    return unchanged({ ...verdict, sentence: `${verdict.sentence} The edited file measured differently from the prediction, so the edit was taken back.` }, found);
  }
  stage("");
  return { file, written: true, inPlace: output === null, objective, before, after: verified.after, ...found, eval: verified.capability, edited: edits, verdict, benchmarks: benchmarkResult(measured.benchPredicted, verified.bench), cost: cost(), provenance: provenance({ path: file, sha256: writtenSha256 }) };
}
