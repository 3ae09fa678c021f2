import { readFile } from "node:fs/promises";
import type { Argv, CommandModule } from "yargs";
import { DebiasError } from "../../lib/errors.js";
import { regularFile } from "../../lib/files.js";
import { editInPlace } from "../../lib/edit/editor.js";
import { editToNewFile } from "../../lib/edit/new-file.js";
import type { NeuronEdit } from "../../lib/edit/neuron-edit.js";
import { count } from "../../lib/text.js";
import { TOOL } from "../../lib/version.js";
import { UsageError, handle, printResult, type CommonArgs } from "../cli.js";

const KINDS = ["gender", "general", "other"] as const;
type Kind = (typeof KINDS)[number];

/** Which neurons of a locate result were taken, and how many of each kind were left out. */
export interface NeuronChoice {
  kinds: Kind[];
  taken: number;
  candidates: number;
  left: Partial<Record<Kind, number>>;
}

/**
 * Reads a neuron list: a JSON array of {layer, index, scale?} (scale 0 = zero, the default), the
 * `edited` neurons of a `run --json` result, or the neurons of a `locate --json` result whose kind is
 * one of `kinds` — and then says what it left out, so nothing is dropped without a word.
 */
export async function readNeuronList(file: string, kinds: readonly Kind[] = ["gender"]): Promise<{ edits: NeuronEdit[]; choice: NeuronChoice | null }> {
  await regularFile(file, "neuron list");
  let value: unknown;
  try {
    value = JSON.parse(await readFile(file, "utf8"));
  } catch (err) {
    throw new DebiasError("E_NEURON_LIST", `cannot read the neuron list ${file}: ${(err as Error).message}`);
  }
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;
  const located = isObject(value) && !Array.isArray(value.edited) && Array.isArray(value.neurons) ? (value.neurons as unknown[]) : null;
  const list = Array.isArray(value) ? value
    : !isObject(value) ? null
    : Array.isArray(value.edited) ? value.edited
    : located ? located.filter((n) => !isObject(n) || n.kind === undefined || kinds.includes(n.kind as Kind))
    : null;
  if (!list) throw new DebiasError("E_NEURON_LIST", `${file} holds neither a list of {layer, index, scale} nor a locate result`);
  let choice: NeuronChoice | null = null;
  if (located) {
    const left: NeuronChoice["left"] = {};
    for (const n of located) if (isObject(n) && KINDS.includes(n.kind as Kind) && !kinds.includes(n.kind as Kind)) left[n.kind as Kind] = (left[n.kind as Kind] ?? 0) + 1;
    choice = { kinds: [...kinds], taken: list.length, candidates: located.length, left };
    if (list.length === 0) throw new DebiasError("E_EDIT_EMPTY", `None of the ${count(located.length, "candidate")} in ${file} is classed ${kinds.join(" or ")}: nothing to edit (--kinds chooses which kinds to take).`);
  }
  const edits = list.map((entry: unknown, i) => {
    const { layer, index, scale = 0 } = isObject(entry) ? entry : {};
    if (!Number.isInteger(layer) || !Number.isInteger(index) || typeof scale !== "number") {
      throw new DebiasError("E_NEURON_LIST", `entry ${i} of ${file} is not {layer: integer, index: integer, scale?: number}`);
    }
    return { layer: layer as number, index: index as number, scale };
  });
  return { edits, choice };
}

/** "the 12 neurons classed gender of the 94 candidates in locate.json (3 general, 79 other left out: --kinds takes them)" */
function choiceLine(choice: NeuronChoice, file: string): string {
  const left = Object.entries(choice.left).map(([kind, n]) => `${n} ${kind}`);
  return `took the ${count(choice.taken, "neuron")} classed ${choice.kinds.join(" or ")} of the ${count(choice.candidates, "candidate")} in ${file}${left.length ? ` (left out: ${left.join(", ")}; --kinds ${KINDS.join(" ")} takes every kind)` : ""}`;
}

interface EditArgs extends CommonArgs {
  model: string;
  neurons: string;
  kinds: Kind[];
  inPlace: boolean;
  output?: string;
  overwrite: boolean;
}

export const editCommand: CommandModule<CommonArgs, EditArgs> = {
  command: "edit <model>",
  describe: "Zero or scale FFN neurons in a GGUF file, in place (journaled, undoable) or into a new file",
  builder: (y) =>
    y
      .positional("model", { type: "string", demandOption: true, describe: "The GGUF file to edit (read only with -o)" })
      .option("neurons", { type: "string", demandOption: true, describe: "JSON list of {layer, index, scale}, or a locate/run result" })
      .option("kinds", { choices: KINDS, array: true, default: ["gender"], describe: "From a locate result, the kinds of neuron to edit" })
      .option("in-place", { type: "boolean", default: false, describe: "Edit the file itself (journaled; undo restores it byte for byte)" })
      .option("output", { alias: "o", type: "string", describe: "Write the edited model to this new file" })
      .option("overwrite", { type: "boolean", default: false, describe: "Replace the output file if it exists" })
      .check((a) => {
        if (a.inPlace === Boolean(a.output)) throw new UsageError("Give exactly one of --in-place or -o OUT.");
        return true;
      // yargs types kebab-case options by their kebab name; yargs-parser also hands us the camelCase one.
      }) as unknown as Argv<EditArgs>,
  handler: (args) =>
    handle(args, async () => {
      const { edits, choice } = await readNeuronList(args.neurons, args.kinds);
      const options = { tool: TOOL };
      const result = args.inPlace ? await editInPlace(args.model, edits, options) : await editToNewFile(args.model, args.output!, edits, { ...options, overwrite: args.overwrite });
      const out = { file: result.file, edited: result.edited, ...(choice ? { chosen: choice } : {}), bytesWritten: result.bytesWritten, journal: "journal" in result ? result.journal : null, description: result.description, maxRelError: result.maxRelError, maxAbsError: result.maxAbsError };
      printResult(args, out, () => [...(choice ? [choiceLine(choice, args.neurons)] : []), `edited ${count(out.edited.length, "neuron")} of ${out.file}: ${count(out.bytesWritten, "byte")} written`, ...out.description, out.journal ? `undo with: gguf-debias undo ${out.file}` : ""].filter(Boolean).join("\n"));
    }),
};
