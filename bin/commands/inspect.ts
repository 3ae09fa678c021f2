import { resolve } from "node:path";
import type { CommandModule } from "yargs";
import { vocabularyOf } from "../../lib/llama/vocabulary.js";
import { count } from "../../lib/text.js";
import { ffnLayout } from "../../lib/llama/architectures.js";
import { listEdits, type EditHistoryEntry } from "../../lib/edit/editor.js";
import { type Provenance } from "../../lib/edit/provenance.js";
import type { NeuronEdit } from "../../lib/edit/neuron-edit.js";
import { openGguf } from "../../lib/gguf/reader.js";
import { handle, printResult, table, type CommonArgs } from "../cli.js";

export interface InspectResult {
  /** Absolute, as edit and undo report theirs. */
  file: string;
  fileBytes: number;
  version: number;
  arch: string | null;
  /** Elements of every tensor: the model's parameters. */
  parameters: number;
  /** Tokens in the vocabulary (0 when the file holds no tokenizer). */
  vocabulary: number;
  /** How many tensors are stored in each ggml type: the quantization, which mixes types. */
  tensorTypes: Record<string, number>;
  nLayer: number | null;
  nEmbd: number | null;
  nFf: number | null;
  gated: boolean | null;
  supported: boolean;
  tensorCount: number;
  tensors: { name: string; type: string; shape: number[]; offset: number }[];
  edits: EditHistoryEntry[];
  provenance: Provenance | null;
  /** Where the undo record of in-place edits is kept (it must move with the model). */
  journal: string;
  journalUnderOtherName: boolean;
  strayJournal: string | null;
}

/** What a GGUF file holds, read from its header alone (no weights are loaded). */
export async function inspect(path: string): Promise<InspectResult> {
  const file = await openGguf(path);
  const arch = file.arch ?? null;
  const int = (key: string) => (arch ? (file.kvInteger(`${arch}.${key}`) ?? null) : null);
  let supported = false;
  let gated: boolean | null = null;
  if (arch) {
    try {
      gated = ffnLayout(arch).gate !== "none";
      supported = true;
    } catch {
      gated = file.tensor("blk.0.ffn_gate.weight") !== undefined;
    }
  }
  const history = await listEdits(path);
  const tensorTypes: Record<string, number> = {};
  for (const t of file.tensors) tensorTypes[t.type.name] = (tensorTypes[t.type.name] ?? 0) + 1;
  return {
    file: resolve(path),
    fileBytes: file.fileSize,
    version: file.version,
    arch,
    parameters: file.tensors.reduce((n, t) => n + t.nElements, 0),
    vocabulary: (await vocabularyOf(path)).size,
    tensorTypes,
    nLayer: int("block_count"),
    nEmbd: int("embedding_length"),
    nFf: int("feed_forward_length"),
    gated,
    supported,
    tensorCount: file.tensors.length,
    tensors: file.tensors.map((t) => ({ name: t.name, type: t.type.name, shape: [...t.ne], offset: t.offset })),
    edits: [...history.entries],
    provenance: history.provenance,
    journal: history.journal,
    journalUnderOtherName: history.journalUnderOtherName,
    strayJournal: history.strayJournal,
  };
}

const magnitude = (n: number): string => (n >= 1e9 ? `${(n / 1e9).toFixed(2)}B` : n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : String(n));
const size = (bytes: number): string => (bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(2)} GiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`);

export const inspectCommand: CommandModule<CommonArgs, CommonArgs & { model?: string; tensors: boolean }> = {
  command: "inspect [model]",
  describe: "Show a GGUF model's architecture, FFN layout, tensors and edit history",
  builder: (y) =>
    y
      .positional("model", { type: "string", describe: "GGUF file (default: the embedded test model)" })
      .option("tensors", { type: "boolean", default: false, describe: "List every tensor in the human output" }),
  handler: (args) =>
    handle(args, async () => {
      const { defaultModelPath } = await import("../../lib/measure/workload-for.js");
      const result = await inspect(args.model ?? defaultModelPath());
      printResult(args, result, () => {
        const lines = [
          `${result.file}: GGUF v${result.version}, ${result.arch ?? "no architecture"}${result.supported ? "" : " (not supported for neuron editing)"}, ${size(result.fileBytes)}`,
          `${magnitude(result.parameters)} parameters in ${count(result.tensorCount, "tensor")} (${Object.entries(result.tensorTypes).sort((a, b) => b[1] - a[1]).map(([type, n]) => `${type} ×${n}`).join(", ")}), vocabulary of ${count(result.vocabulary, "token")}`,
          `${count(result.nLayer ?? 0, "layer")}, n_embd ${result.nEmbd}, ${result.nFf} FFN neurons per layer, ${result.gated ? "gated" : "ungated"} FFN`,
        ];
        if (args.tensors) lines.push(table([["tensor", "type", "shape"], ...result.tensors.map((t) => [t.name, t.type, t.shape.join("×")])]));
        const neurons = (edits: readonly NeuronEdit[]) => edits.map((n) => `${n.layer}:${n.index}${n.scale ? `×${n.scale}` : ""}`).join(" ");
        if (result.strayJournal) {
          lines.push(`no edit journal at ${result.journal}, but ${result.strayJournal} records the in-place edits this file carries (it was renamed without it): rename that journal to undo them`);
        } else if (result.edits.length === 0) {
          lines.push(`no in-place edits recorded (the undo record would be ${result.journal}, which must move with the model)`);
        } else {
          const where = result.journalUnderOtherName ? " (found by the file's device and inode: it was kept under a hard link's name or the file's name before a rename)" : "";
          lines.push(`${count(result.edits.length, "in-place edit")}, oldest first (\`gguf-debias undo ${result.file}\` takes back the last; the undo record is ${result.journal}${where}, which must move with the model):`);
          lines.push(table([["when", "state", "by", "bytes", "neurons"], ...result.edits.map((e) => [e.createdAt, e.state, e.tool, String(e.bytes), neurons(e.edits)])]));
        }
        if (result.provenance) lines.push(`written by ${result.provenance.tool} from a file with sha256 ${result.provenance.sourceSha256}; neurons edited: ${neurons(result.provenance.edits)}`);
        return lines.join("\n");
      });
    }),
};
