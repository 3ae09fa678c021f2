// The public API of gguf-debias: what each CLI command does, as functions, and their types. Listed in
// the README ("Public API"); test/index.test.ts holds the two to each other. The method's inner steps
// (attribution, the searches, the verdict's statistics) and the raw addon stay private: they change with
// the method, and the addon's primitives skip the checks (loadability, journals, locks) the functions
// here put in front of them.

// errors, defaults, version
export { DebiasError, isDebiasError } from "./errors.js";
export { DEFAULTS, type DamageBudget } from "./defaults.js";
export { VERSION } from "./version.js";

// models: load, evaluate with FFN capture and per-prompt interventions, read the file
export { DebiasModel, type EvaluationOptions, type LoadOptions } from "./llama/model.js";
export type { ModelFacts } from "./llama/facts.js";
export type { Evaluation, EvaluationRequest, Evaluator, EvaluatorOptions, InterventionSpec, PromptPosition, TargetSpec } from "./llama/evaluator.js";
export { checkLoadable } from "./llama/loadable.js";
export { ffnLayout, supportedArchitectures, type FfnLayout, type GateLayout } from "./llama/architectures.js";
export { useGpuBackend, type GpuBackend } from "./native.js";
export { openGguf, type GgufFile, type GgufTensor } from "./gguf/reader.js";
export type { GgufValue } from "./gguf/format.js";

// run: the whole pipeline
export { run, type ProgressReporter, type RunOptions, type RunStage } from "./pipeline.js";
export type { RunBenchmarks, RunCost, RunProvenance, RunResult } from "./verify/run-result.js";
export type { EditedNeuron, ParetoPoint, SearchKind, Selection, SelectionStep } from "./select/selection.js";
export type { RandomComparison, SplitComparison } from "./select/random-sets.js";
export type { Verdict, VerdictKind } from "./verify/verdict.js";
export type { ObjectiveKind } from "./measure/objective.js";

// probes and neutral text
export { defaultModelPath, workloadFor } from "./measure/workload-for.js";
export { defaultWorkload, readNeutralText, type Workload } from "./measure/workload.js";
export { loadDataset, probes, validateDataset, type BiasDataset, type DatasetWord, type Probe, type Template, type TargetPair } from "./measure/dataset.js";

// score, eval and the standard benchmarks
export { scoreOriginal, withNeutralText, withSession, type Session } from "./measure/session.js";
export type { BiasScore, GroupMetrics, TemplateMetrics, WordScore } from "./measure/metrics.js";
export type { Capability, NeutralRun, NeutralText } from "./measure/neutral-text.js";
export { loadBenchmarks, parseBenchmarkSpec, scoreBenchmarksOnModel, type BenchmarkName, type Benchmarks, type BenchmarkScores, type BenchmarkSource } from "./measure/standard-benchmarks.js";

// locate
export { selectionBaseline } from "./locate/baseline.js";
export type { Baseline } from "./locate/causal.js";
export { locate, type LocatedNeuron, type LocateOptions, type LocateResult } from "./locate/locate.js";
export type { ClassThresholds, NeuronKind, NoiseFloor, SingleEffect } from "./locate/classes.js";

// edit and undo
export { editInPlace, hasInterruptedEdit, listEdits, recover, undo, undoAll, type EditHistory, type EditHistoryEntry, type EditResult, type RecoverResult, type UndoResult } from "./edit/editor.js";
export { editToNewFile, type NewFileOptions, type NewFileResult } from "./edit/new-file.js";
export type { NeuronEdit } from "./edit/neuron-edit.js";
export type { EditOptions } from "./edit/edit-options.js";
export type { Provenance } from "./edit/provenance.js";

// compare and report
export { compareContinuations, type Continuation, type ContinuationOptions, type ContinuationPair } from "./verify/continuations.js";
export { readRunResult } from "./verify/run-result.js";
export { renderReport } from "./verify/report.js";
export { renderHtmlReport, writeHtmlReport } from "./verify/html-report.js";
export { renderModelCard } from "./verify/model-card.js";
