import type { Argv, CommandModule } from "yargs";
import { defaultOutput, run } from "../../lib/pipeline.js";
import { renderReport } from "../../lib/verify/report.js";
import { writeHtmlReport } from "../../lib/verify/html-report.js";
import { checkDestinations, writeUserFile } from "../../lib/files.js";
import { renderModelCard } from "../../lib/verify/model-card.js";
import { datasetPath } from "../../lib/measure/dataset.js";
import { defaultModelPath, workloadFor } from "../../lib/measure/workload-for.js";
import { UsageError, handle, printResult, progress } from "../cli.js";
import { benchmarkOptions, budgetOf, budgetOptions, candidatesOption, evaluatorOptions, modelOptions, seedOption, type BenchmarkArgs, type BudgetArgs, type ModelArgs } from "../options.js";
import { DEFAULTS } from "../../lib/defaults.js";
import { benchmarkFiles, parseBenchmarkSpec } from "../../lib/measure/standard-benchmarks.js";

interface RunArgs extends ModelArgs, BudgetArgs, BenchmarkArgs {
  output?: string;
  inPlace: boolean;
  overwrite: boolean;
  maxNeurons?: number;
  scale: number;
  seed: number;
  candidates?: number;
  minGain?: number;
  stopAt: number;
  minReduction: number;
  minZ: number;
  minSpecificity: number;
  minGap: number;
  minFactualAccuracy: number;
  randomSets?: number;
  search: "auto" | "thorough" | "fast" | "exhaustive";
  searchPasses?: number;
  maxPasses: number;
  report?: string;
  card?: string;
}

/** The command line as a shell would take it back, for the result's provenance. */
const commandLine = (): string => ["gguf-debias", ...process.argv.slice(2)].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`)).join(" ");

export const runCommand: CommandModule<ModelArgs, RunArgs> = {
  command: "run [model]",
  describe: "Measure, locate, select a set of neurons, edit and verify: the whole pipeline (default: the embedded test model)",
  builder: (y) =>
    y
      .positional("model", { type: "string", describe: "GGUF file (default: the embedded test model)" })
      .options(modelOptions)
      .options(budgetOptions)
      .options(benchmarkOptions)
      .option("output", { alias: "o", type: "string", describe: "Edited model file (default: <model name>.debiased.gguf in the current directory); written only when the edit helps" })
      .option("in-place", { type: "boolean", default: false, describe: "Edit the model itself, journaled and undoable, only when the edit helps" })
      .option("overwrite", { type: "boolean", default: false, describe: "Replace the output file if it exists" })
      .option("max-neurons", { type: "number", describe: "Most neurons to edit (default: 2% of FFN neurons)" })
      .option("scale", { type: "number", default: 0, describe: "Scale chosen neurons by this instead of zeroing them" })
      .options(candidatesOption)
      .option("min-gain", { type: "number", describe: "Smallest gain (nats, per √neurons) a selection step must bring (default: twice a random neuron's spread, and at least 1% of the objective)" })
      .option("stop-at", { type: "number", default: DEFAULTS.stopAt, describe: "Stop the search once the objective on the selection probes is this share of its original size" })
      .option("min-reduction", { type: "number", default: DEFAULTS.minReduction, describe: "Smallest held-out reduction of the objective worth writing" })
      .option("min-z", { type: "number", default: DEFAULTS.minZ, describe: "How far (in spreads) the chosen set must beat random sets of the same size" })
      .option("min-gap", { type: "number", default: DEFAULTS.minGap, describe: "A stereotype gap (or prior) below this many nats counts as absent" })
      .option("min-specificity", { type: "number", default: DEFAULTS.minSpecificity, describe: "How many times more of the stereotype than of factual gender the edit must remove (share of each)" })
      .option("min-factual-accuracy", { type: "number", default: DEFAULTS.minFactualAccuracy, describe: "Below this factual accuracy the model does not know gender: report, edit nothing" })
      .option("search", { choices: ["auto", "thorough", "fast", "exhaustive"] as const, default: "auto", describe: "thorough: zero every candidate alone, then re-screen them on top of the set (hundreds of passes); fast: rank candidates by direct effect, measure only sets (about 15 passes in all); exhaustive: thorough over four times the candidates, the reference to judge the others by; auto: thorough when its work (parameters × tokens) is estimated at about 10 minutes on 2 cores or less, whatever the machine's load" })
      .option("max-passes", { type: "number", default: DEFAULTS.maxPasses, describe: "What a run with the fast search may cost in all, in passes (one pass: the selection probes and the neutral text); the search gets what the rest of the run leaves (at least 3)" })
      .option("search-passes", { type: "number", describe: "Passes the fast search may spend on sets, instead of what --max-passes leaves it" })
      .option("random-sets", { type: "number", describe: "Random sets the chosen one is compared with (default: 20 after a thorough search; after a fast one 4 to 8, four at a time until the comparison is clear)" })
      .options(seedOption)
      .option("report", { type: "string", describe: "Also write a self-contained HTML report to this file" })
      .option("card", { type: "string", describe: "Also write a Markdown model card to publish beside the edited GGUF" })
      .check((a) => {
        if (a.inPlace && a.output) throw new UsageError("Give either --in-place or -o OUT, not both.");
        // The default model lies inside the installed package: editing it would change every later demo.
        if (a.inPlace && !a.model) throw new UsageError("run --in-place needs a model file: without one it would edit the test model inside the gguf-debias package (copy it and pass the copy, or write a new file with -o).");
        return true;
      // yargs types kebab-case options by their kebab name; yargs-parser also hands us the camelCase one.
      }) as unknown as Argv<RunArgs>,
  handler: (args) =>
    handle(args, async () => {
      const budget = budgetOf(args);
      const evaluator = evaluatorOptions(args);
      const path = args.model ?? defaultModelPath();
      const workload = await workloadFor(path, args.dataset, args.neutral);
      const benchmarks = (args.benchmark ?? []).map(parseBenchmarkSpec);
      // Every file this run may write, checked against every file it reads before any work.
      await checkDestinations(
        [{ path, what: "model" }, ...(args.dataset ? [{ path: datasetPath(args.dataset), what: "dataset" }] : []), ...(args.neutral ? [{ path: args.neutral, what: "neutral text" }] : []), ...benchmarks.flatMap(benchmarkFiles)],
        [...(args.inPlace ? [] : [{ path: args.output ?? defaultOutput(path), what: "output", overwrite: args.overwrite }]), ...(args.report ? [{ path: args.report, what: "report", overwrite: args.overwrite }] : []), ...(args.card ? [{ path: args.card, what: "model card", overwrite: args.overwrite }] : [])],
      );
      const report = progress(args);
      report(`debiasing ${path} with ${workload.source}`, 0, 1);
      const result = await run(path, workload, {
        command: commandLine(),
        ...(args.inPlace ? {} : { output: args.output ?? defaultOutput(path) }),
        inPlace: args.inPlace,
        overwrite: args.overwrite,
        ...budget,
        ...(args.maxNeurons !== undefined ? { maxNeurons: args.maxNeurons } : {}),
        ...(args.candidates !== undefined ? { candidates: args.candidates } : {}),
        ...(args.minGain !== undefined ? { minGain: args.minGain } : {}),
        stopAt: args.stopAt,
        minReduction: args.minReduction,
        minZ: args.minZ,
        minSpecificity: args.minSpecificity,
        minGap: args.minGap,
        minFactualAccuracy: args.minFactualAccuracy,
        ...(args.randomSets !== undefined ? { randomSets: args.randomSets } : {}),
        search: args.search,
        ...(args.searchPasses !== undefined ? { searchPasses: args.searchPasses } : {}),
        maxPasses: args.maxPasses,
        scale: args.scale,
        seed: args.seed,
        evaluator,
        benchmarks,
        onProgress: report,
      });
      const text = renderReport(result);
      if (args.report) await writeHtmlReport(result, args.report, args.overwrite);
      if (args.card) await writeUserFile(args.card, renderModelCard(result), "model card", args.overwrite);
      const written = [...(args.report ? [`HTML report: ${args.report}`] : []), ...(args.card ? [`model card: ${args.card}`] : [])];
      printResult(args, { ...result, report: text }, () => [text, ...written].join("\n"));
    }),
};
