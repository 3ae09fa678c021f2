// The public API of gguf-debias: the same functions the CLI uses.
export { DebiasError, isDebiasError } from "./errors.js";
export { ffnLayout, supportedArchitectures, type FfnLayout, type GateLayout } from "./llama/architectures.js";
export { native, useGpuBackend, type GpuBackend } from "./native.js";
export { DebiasModel, type LoadOptions } from "./llama/model.js";
import { DebiasModel } from "./llama/model.js";
/** @deprecated Renamed DebiasModel: node-llama-cpp exports a LlamaModel class of its own. */
export const LlamaModel = DebiasModel;
/** @deprecated Renamed DebiasModel. */
export type LlamaModel = DebiasModel;
export { defaultThreads, type ModelFacts } from "./llama/facts.js";
export type { Evaluation, EvaluationRequest, Evaluator, EvaluatorOptions, InterventionSpec, PromptPosition, TargetSpec } from "./llama/evaluator.js";
export * from "./edit/index.js";
export { nativeRequantizer } from "./edit/requantizer.js";
export { datasetFromManifest, defaultDatasetPath, loadDataset, probes, validateDataset, type BiasDataset, type DatasetWord, type Probe, type Template, type TargetPair } from "./measure/dataset.js";
export { baselines, residuals, scoreBias, klDivergence, meanKlDivergence, perplexity, top1Agreement, type BiasScore, type GroupMetrics, type ScoreOptions, type TemplateMetrics, type WordScore } from "./measure/metrics.js";
export { ProbeSet, splitWords, type TokenizedProbe } from "./measure/probe-set.js";
export { checkSameVocabulary, vocabularyOf, type Vocabulary } from "./llama/vocabulary.js";
export { checkLoadable } from "./llama/loadable.js";
export { compareRuns, defaultNeutralSentences, NeutralText, type Capability, type NeutralRun } from "./measure/neutral-text.js";
export { loadWinoBias, scoreWinoBias } from "./measure/winobias.js";
export { loadCrowsPairs, scoreCrowsPairs } from "./measure/crows-pairs.js";
export { defaultCandidates, dlaWeights, locate, rankByDirectEffect, type Candidate, type LocatedNeuron, type LocateOptions, type LocateResult, type NeuronKind } from "./locate/locate.js";
export { causalEffects, type Baseline, type CausalEffect } from "./locate/causal.js";
export { directEffects, valueVectors, type DlaWeights } from "./locate/direct-effect.js";
export { selectNeurons, type EditedNeuron, type ParetoPoint, type SearchKind, type Selection, type SelectionOptions, type SelectionStep } from "./select/selection.js";
export { searchRanked } from "./select/ranked-search.js";
export { chooseSearch, DEFAULT_MAX_PASSES, searchBudget, defaultWorkload, inferredDirections, manifestWorkload, openSession, readNeutralText, run, scoreOriginal, selectionBaseline, withNeutralText, withSession, type ProgressReporter, type RunCost, type RunOptions, type RunStage, type RunProvenance, type RunResult, type Workload } from "./pipeline.js";
export { judgedSplit, preVerdict, verdictOf, type Verdict, type VerdictKind, type VerdictThresholds } from "./verify/verdict.js";
export { compareWithRandomSets, randomSetsLike, type RandomComparison, type SplitComparison } from "./select/random-sets.js";
export { objectiveSize, objectiveValue, OBJECTIVES, type ObjectiveKind } from "./select/objective.js";
export { defaultModelPath, workloadFor } from "./measure/workload-for.js";
export { renderReport } from "./verify/report.js";
export { renderChart, renderHtmlReport, writeHtmlReport } from "./verify/html-report.js";
export { checkDestinations, type Destination, type Source } from "./files.js";
export { templateWarnings, type TemplateWarning } from "./measure/probe-diagnostics.js";
export { compareContinuations, greedyContinuations, type Continuation, type ContinuationOptions, type ContinuationPair } from "./verify/continuations.js";
export { VERSION } from "./version.js";
