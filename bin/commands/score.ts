import { resolve } from "node:path";
import type { CommandModule } from "yargs";
import type { BiasScore, GroupMetrics } from "../../lib/measure/metrics.js";
import { templateWarnings, type TemplateWarning } from "../../lib/measure/probe-diagnostics.js";
import { scoreOriginal, withSession } from "../../lib/pipeline.js";
import type { EvaluationOptions } from "../../lib/llama/model.js";
import type { GpuBackend } from "../../lib/native.js";
import { defaultModelPath, workloadFor } from "../../lib/measure/workload-for.js";
import { fixed, handle, printResult, progress, table, type CommonArgs } from "../cli.js";
import { checkNumber } from "../usage.js";

export interface ModelArgs extends CommonArgs {
  model?: string;
  dataset?: string;
  neutral?: string;
  threads?: number;
  gpuLayers?: number;
  gpu?: GpuBackend;
}

export const modelOptions = {
  dataset: { type: "string", describe: "Probe dataset: a JSON file, or a bundled one by name, commonwords or tinystories (default: commonwords, or a fixture's own)" },
  neutral: { type: "string", describe: "Neutral text of the model's own domain, one sentence a line (default: the dataset's, else the bundled text)" },
  threads: { type: "number", describe: "CPU threads (default: the cores other processes leave free, by load average)" },
  "gpu-layers": { type: "number", describe: "Layers to offload to a GPU, -1 for all (default 0: CPU only); results equal the CPU's up to rounding" },
  gpu: { type: "string", choices: ["cuda", "vulkan"], describe: "With the prebuilt libraries, the GPU backend to load from node-llama-cpp's optional package (source builds compile theirs in)" },
} as const;

export const evaluatorOptions = (args: ModelArgs): EvaluationOptions => {
  checkNumber("threads", args.threads, 1, 1024, true);
  checkNumber("gpu-layers", args.gpuLayers, -1, 100000, true);
  return { ...(args.threads ? { threads: args.threads } : {}), ...(args.gpuLayers ? { gpuLayers: args.gpuLayers } : {}), ...(args.gpu ? { gpu: args.gpu } : {}) };
};

export function scoreTable(score: BiasScore): string {
  const row = (name: string, m: GroupMetrics, b0 = "") => [name, fixed(m.stereotypeGap, 3), fixed(m.stereotypeGapSe, 3), fixed(m.priorSkew, 3), b0, fixed(m.residual, 3), fixed(m.bias, 3), fixed(m.factualAccuracy, 3), fixed(m.factualMargin, 3)];
  return table([
    ["", "gap Δ", "± se", "prior", "baseline b0", "residual", "mean |b|", "factual acc", "factual margin"],
    row("all words", score),
    row("selection", score.splits.selection),
    row("held-out", score.splits.heldout),
    ...Object.entries(score.categories).map(([name, m]) => row(`  ${name}`, m)),
    ...Object.entries(score.templates).map(([name, m]) => row(`  template ${name}`, m, Object.values(m.baselines).map((b) => fixed(b, 3)).join(" / "))),
  ]);
}

/** One line per template that does not measure gender, for people; nothing when all do. */
export function warningLines(warnings: readonly TemplateWarning[]): string {
  return warnings.map((w) => `\nwarning: template ${w.template}: ${w.reasons.join("; ")}.`).join("");
}

export const SCORE_LEGEND =
  "nats of log-odds b = log p(female) − log p(male). gap Δ: how much further stereotyped words lean their stereotype's way than the template's neutral baseline words (the stereotype); prior: mean b of the neutral words (how far the model leans one way for anyone); baseline b0: a template's mean b of its baseline words, per target pair; residual: mean |b − baseline|; factual: words whose gender is their meaning, judged against the baseline (accuracy: share on their own gender's side of it; margin: mean distance).";

export const scoreCommand: CommandModule<CommonArgs, ModelArgs> = {
  command: "score [model]",
  describe: "Measure gender bias: stereotype gap, prior skew and factual gender over the probe words",
  builder: (y) => y.positional("model", { type: "string", describe: "GGUF file (default: the embedded test model)" }).options(modelOptions),
  handler: (args) =>
    handle(args, async () => {
      const path = args.model ?? defaultModelPath();
      const options = evaluatorOptions(args);
      const workload = await workloadFor(path, args.dataset, args.neutral);
      const report = progress(args);
      report(`scoring ${path} on ${workload.source}`, 0, 1);
      const { score } = await withSession(path, workload, options, (session) => scoreOriginal(session));
      const warnings = templateWarnings(score);
      printResult(args, { model: resolve(path), dataset: workload.source, ...score, warnings }, () => `${SCORE_LEGEND}\n${scoreTable(score)}${warningLines(warnings)}`);
    }),
};
