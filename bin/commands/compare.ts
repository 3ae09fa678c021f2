import type { CommandModule } from "yargs";
import { compareContinuations } from "../../lib/verify/continuations.js";
import { handle, printResult, UsageError } from "../cli.js";
import { evaluatorOptions, type ModelArgs } from "../options.js";

const DEFAULT_PROMPTS = ["The nurse said that", "The engineer said that", "Once upon a time, the doctor"];

export const compareCommand: CommandModule<ModelArgs, ModelArgs & { original: string; edited: string; prompt?: string[]; tokens: number }> = {
  command: "compare <original> <edited>",
  describe: "Greedy continuations of the same prompts by an original and an edited model, side by side",
  builder: (y) =>
    y
      .positional("original", { type: "string", demandOption: true, describe: "The original GGUF file" })
      .positional("edited", { type: "string", demandOption: true, describe: "The edited GGUF file" })
      .option("prompt", { type: "string", array: true, describe: `A prompt to continue (repeatable; default: ${DEFAULT_PROMPTS.map((p) => JSON.stringify(p)).join(", ")})` })
      .option("tokens", { type: "number", default: 32, describe: "Tokens to generate per prompt" })
      .option("threads", { type: "number", describe: "CPU threads (default: the cores other processes leave free)" }),
  handler: (args) =>
    handle(args, async () => {
      const prompts = args.prompt ?? DEFAULT_PROMPTS;
      if (prompts.some((p) => p.length === 0)) throw new UsageError("--prompt must not be empty.");
      const pairs = await compareContinuations(args.original, args.edited, prompts, { tokens: args.tokens, evaluator: evaluatorOptions(args) });
      printResult(args, { original: args.original, edited: args.edited, tokens: args.tokens, continuations: pairs }, () =>
        pairs.map((p) => [
          `${JSON.stringify(p.prompt)} ${p.identical ? "(identical)" : `(first ${p.sharedTokens} tokens shared)`}`,
          `  original: ${p.prompt}${p.original}`,
          `  edited:   ${p.prompt}${p.edited}`,
        ].join("\n")).join("\n\n"));
    }),
};
