import { resolve } from "node:path";
import type { CommandModule } from "yargs";
import { sha256File } from "../../lib/files.js";
import { undo, undoAll } from "../../lib/edit/editor.js";
import type { NeuronEdit } from "../../lib/edit/neuron-edit.js";
import { count } from "../../lib/text.js";
import { handle, printResult, type CommonArgs } from "../cli.js";

export const undoCommand: CommandModule<CommonArgs, CommonArgs & { model: string; all: boolean }> = {
  command: "undo <model>",
  describe: "Restore the bytes of the most recent in-place edit (or all of them)",
  builder: (y) => y.positional("model", { type: "string", demandOption: true, describe: "The GGUF file edited in place (its journal lies beside it)" }).option("all", { type: "boolean", default: false, describe: "Undo every recorded edit" }),
  handler: (args) =>
    handle(args, async () => {
      const results = args.all ? await undoAll(args.model) : [await undo(args.model)];
      const rolledBack = results.reduce((n, r) => n + r.rolledBack, 0);
      const undone = results.filter((r) => r.edits.length > 0).length;
      const remaining = results.at(-1)!.remaining;
      const out = { file: resolve(args.model), restored: true, undone, rolledBack, bytesRestored: results.reduce((n, r) => n + r.bytesRestored, 0), remaining, sha256: await sha256File(args.model) };
      const neurons = (edits: readonly NeuronEdit[]) => edits.map((n) => `${n.layer}:${n.index}${n.scale ? `×${n.scale}` : ""}`).join(" ");
      printResult(args, out, () => [
        ...(rolledBack > 0 ? [`rolled back ${count(rolledBack, "interrupted edit")} of ${out.file}: the file is as it was before them`] : []),
        ...(undone > 0 ? [`restored ${count(out.bytesRestored, "byte")} of ${out.file} (${count(undone, "edit")} undone)`] : []),
        remaining.length === 0
          ? "no in-place edit remains recorded"
          : `${count(remaining.length, "earlier edit")} ${remaining.length === 1 ? "remains" : "remain"}, oldest first (\`gguf-debias undo ${out.file}\` takes back the last): ${remaining.map((e) => `${e.createdAt} ${neurons(e.edits)}`).join("; ")}`,
        `sha256 ${out.sha256}`,
      ].join("\n"));
    }),
};
