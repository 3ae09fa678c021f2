import { readFile } from "node:fs/promises";
import type { Argv, CommandModule } from "yargs";
import { DebiasError } from "../../lib/errors.js";
import { regularFile } from "../../lib/files.js";
import { editInPlace, editToNewFile } from "../../lib/edit/editor.js";
import type { NeuronEdit } from "../../lib/edit/neuron-edit.js";
import { TOOL } from "../../lib/version.js";
import { UsageError, handle, printResult, type CommonArgs } from "../cli.js";

/**
 * Reads a neuron list: a JSON array of {layer, index, scale?} (scale 0 = zero, the default), or the
 * output of `locate --json` / `run --json`, of which the neurons classed "gender" are taken.
 */
export async function readNeuronList(file: string): Promise<NeuronEdit[]> {
  await regularFile(file, "neuron list");
  let value: unknown;
  try {
    value = JSON.parse(await readFile(file, "utf8"));
  } catch (err) {
    throw new DebiasError("E_NEURON_LIST", `cannot read the neuron list ${file}: ${(err as Error).message}`);
  }
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;
  const list = Array.isArray(value) ? value
    : !isObject(value) ? null
    : Array.isArray(value.edited) ? value.edited
    : Array.isArray(value.neurons) ? (value.neurons as unknown[]).filter((n) => !isObject(n) || n.kind === undefined || n.kind === "gender")
    : null;
  if (!list) throw new DebiasError("E_NEURON_LIST", `${file} holds neither a list of {layer, index, scale} nor a locate result`);
  return list.map((entry: unknown, i) => {
    const { layer, index, scale = 0 } = isObject(entry) ? entry : {};
    if (!Number.isInteger(layer) || !Number.isInteger(index) || typeof scale !== "number") {
      throw new DebiasError("E_NEURON_LIST", `entry ${i} of ${file} is not {layer: integer, index: integer, scale?: number}`);
    }
    return { layer: layer as number, index: index as number, scale };
  });
}

export const editCommand: CommandModule<CommonArgs, CommonArgs & { model: string; neurons: string; inPlace: boolean; output?: string; overwrite: boolean }> = {
  command: "edit <model>",
  describe: "Zero or scale FFN neurons in a GGUF file, in place (journaled, undoable) or into a new file",
  builder: (y) =>
    y
      .positional("model", { type: "string", demandOption: true, describe: "The GGUF file to edit (read only with -o)" })
      .option("neurons", { type: "string", demandOption: true, describe: "JSON list of {layer, index, scale}, or a locate/run result" })
      .option("in-place", { type: "boolean", default: false, describe: "Edit the file itself (journaled; undo restores it byte for byte)" })
      .option("output", { alias: "o", type: "string", describe: "Write the edited model to this new file" })
      .option("overwrite", { type: "boolean", default: false, describe: "Replace the output file if it exists" })
      .check((a) => {
        if (a.inPlace === Boolean(a.output)) throw new UsageError("Give exactly one of --in-place or -o OUT.");
        return true;
      // yargs types kebab-case options by their kebab name; yargs-parser also hands us the camelCase one.
      }) as unknown as Argv<CommonArgs & { model: string; neurons: string; inPlace: boolean; output?: string; overwrite: boolean }>,
  handler: (args) =>
    handle(args, async () => {
      const edits = await readNeuronList(args.neurons);
      const options = { tool: TOOL };
      const result = args.inPlace ? await editInPlace(args.model, edits, options) : await editToNewFile(args.model, args.output!, edits, { ...options, overwrite: args.overwrite });
      const out = { file: result.file, edited: result.edited, bytesWritten: result.bytesWritten, journal: "journal" in result ? result.journal : null, description: result.description, maxRelError: result.maxRelError, maxAbsError: result.maxAbsError };
      printResult(args, out, () => [`edited ${out.edited.length} neurons of ${out.file}: ${out.bytesWritten} bytes written`, ...out.description, out.journal ? `undo with: gguf-debias undo ${out.file}` : ""].filter(Boolean).join("\n"));
    }),
};
