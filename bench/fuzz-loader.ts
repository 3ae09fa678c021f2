// Feeds mutated but parseable model files to the library's loading path (DebiasModel.load, a context,
// one evaluation) in a child process, and counts how often the child dies instead of getting a
// DebiasError: an abort there kills any application that embeds the library. Mutations are semantic
// (KV values set to 0, negative, NaN, huge; KVs dropped or retyped; token lists with duplicates or the
// wrong length; expert counts; odd alignments; tensor types swapped for ones of the same or another
// size; head counts and sizes; tokenizer models) on top of the header reader's byte-level ones.
//
//   node dist/bench/fuzz-gguf.js --loader [--iterations N] [--seed S]
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { isDebiasError } from "../lib/errors.js";
import { GgufValueType as V, type GgufArray, type GgufKv } from "../lib/gguf/format.js";
import { GGML_TYPES, ggmlTypeByName } from "../lib/gguf/ggml-types.js";
import { openGguf, type GgufFile } from "../lib/gguf/reader.js";
import { reheader } from "../lib/gguf/writer.js";
import { TOKEN_TYPE_BYTE } from "../lib/llama/loadable.js";
import { DebiasModel } from "../lib/llama/model.js";
import { packageRoot } from "../lib/package-root.js";
import { seededRandom } from "../lib/random.js";

const BASES = ["llama-localized.q8_0", "gpt2-localized.q8_0", "qwen2-random.f32", "qwen3-random.f32", "gemma-random.f32", "gemma2-random.f32", "gemma3-random.f32", "phi3-random.f32"];

interface Base {
  readonly name: string;
  readonly bytes: Buffer;
  readonly file: GgufFile;
}

const NUMBERS = [0, 1, -1, 2, 3, 7, 4096, 2 ** 31 - 1, 2 ** 32 - 1, NaN, Infinity, -Infinity, 1e30, -1e-30];
// swaps that keep every tensor's byte size, so the reader accepts the file and only llama.cpp can object
const SAME_SIZE: Record<string, string[]> = { F32: ["I32"], I32: ["F32"], F16: ["I16", "BF16"], I16: ["F16"], BF16: ["F16", "I16"] };
const HEAD_KEYS = ["attention.head_count", "attention.head_count_kv", "attention.key_length", "attention.value_length", "embedding_length"];
const HEAD_VALUES = [0, 1, 2, 3, 7, 16, 32, 48, 64, 128, 256, 4096, 2 ** 20, 2 ** 32 - 1];
const TOKENIZERS = ["llama", "gpt2", "bert", "t5", "rwkv", "plamo2", "gemma4", "hybriddna", "whitespace", "no_vocab", "x"];

/** Where each tensor info's type and offset fields sit, found by walking the infos of a parsed file. */
export function tensorInfoFields(g: GgufFile): { type: number; offset: number }[] {
  let at = g.tensorInfoSpan.start;
  return g.tensors.map((t) => {
    at += 8 + Buffer.byteLength(t.name) + 4 + 8 * t.nDims;
    const fields = { type: at, offset: at + 4 };
    at += 12;
    return fields;
  });
}

function retyped(kv: GgufKv, rand: () => number): GgufKv {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const n = pick(NUMBERS);
  switch (Math.floor(rand() * 4)) {
    case 0:
      return { key: kv.key, type: V.FLOAT32, value: n };
    case 1:
      return { key: kv.key, type: V.INT32, value: Number.isFinite(n) ? Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, Math.trunc(n))) : -1 };
    case 2:
      return { key: kv.key, type: V.UINT32, value: Number.isFinite(n) ? Math.max(0, Math.min(2 ** 32 - 1, Math.trunc(n))) : 0 };
    default:
      return { key: kv.key, type: V.STRING, value: pick(["", "x", "llama", "gpt2", "none", "\u0000"]) };
  }
}

function mutatedArray(kv: GgufKv, rand: () => number): GgufKv {
  const arr = kv.value as GgufArray;
  const items = Array.from(arr.items as ArrayLike<unknown>);
  const at = Math.floor(rand() * Math.max(1, items.length));
  switch (Math.floor(rand() * 5)) {
    case 0: // a duplicate entry (tokens: the same string twice)
      if (items.length > 1) items[(at + 1) % items.length] = items[at];
      break;
    case 1:
      items.length = Math.floor(rand() * items.length);
      break;
    case 2:
      items.push(items[at] ?? 0);
      break;
    case 3:
      if (arr.itemType === V.STRING) items[at] = "";
      else if (arr.itemType === V.INT32 || arr.itemType === V.UINT32) items[at] = arr.itemType === V.INT32 ? -7 : 2 ** 31;
      else if (arr.itemType === V.FLOAT32) items[at] = NaN;
      break;
    default:
      items.length = 0;
  }
  const typed = arr.itemType === V.FLOAT32 ? Float32Array.from(items as number[]) : arr.itemType === V.INT32 ? Int32Array.from(items as number[]) : arr.itemType === V.UINT32 ? Uint32Array.from(items as number[]) : items;
  return { key: kv.key, type: V.ARRAY, value: { itemType: arr.itemType, items: typed as GgufArray["items"] } };
}

/** One mutated file: a new header over the base's unchanged tensor data. */
function mutate(base: Base, rand: () => number): { bytes: Buffer; what: string } {
  const { file, bytes } = base;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const arch = file.arch ?? "llama";
  const kv = pick(file.kvs.filter((k) => k.key !== "general.alignment"));
  const original = bytes.subarray(0, file.dataOffset);
  const build = (kvs: GgufKv[], drop: string[] = []): Buffer => Buffer.concat([reheader(file, original, kvs, drop), bytes.subarray(file.dataOffset)]);
  const kind = Math.floor(rand() * 10);
  switch (kind) {
    case 7: {
      const i = Math.floor(rand() * file.tensors.length);
      const t = file.tensors[i]!;
      const same = SAME_SIZE[t.type.name];
      const to = same && rand() < 0.7 ? ggmlTypeByName(pick(same))! : pick(GGML_TYPES);
      const b = Buffer.from(bytes);
      b.writeUInt32LE(to.id, tensorInfoFields(file)[i]!.type);
      return { bytes: b, what: `type ${t.name} ${t.type.name}->${to.name}` };
    }
    case 8: {
      const key = `${arch}.${pick(HEAD_KEYS)}`;
      const value = pick(HEAD_VALUES);
      return { bytes: build([{ key, type: V.UINT32, value }]), what: `set ${key}=${value}` };
    }
    case 9: {
      const model = pick(TOKENIZERS);
      const kvs: GgufKv[] = [{ key: "tokenizer.ggml.model", type: V.STRING, value: model }];
      const types = file.kv("tokenizer.ggml.token_type");
      // a vocabulary with no byte tokens, as a real WordPiece one has, tells the tokenizer check from the type check
      const byteless = types && rand() < 0.5;
      if (byteless) kvs.push({ key: types.key, type: V.ARRAY, value: { itemType: V.INT32, items: Int32Array.from(Array.from((types.value as GgufArray).items as ArrayLike<number>), (v) => (Number(v) === TOKEN_TYPE_BYTE ? 1 : Number(v))) } });
      return { bytes: build(kvs), what: `tokenizer ${model}${byteless ? " without byte tokens" : ""}` };
    }
    case 0:
      return { bytes: build([retyped(kv, rand)]), what: `retype ${kv.key}` };
    case 1:
      return { bytes: build([], [kv.key]), what: `drop ${kv.key}` };
    case 2: {
      const arrays = file.kvs.filter((k) => k.type === V.ARRAY);
      const a = pick(arrays);
      return { bytes: build([mutatedArray(a, rand)]), what: `array ${a.key}` };
    }
    case 3: {
      const numeric = file.kvs.filter((k) => k.type !== V.ARRAY && k.type !== V.STRING && k.key !== "general.alignment");
      const k = pick(numeric);
      const value = pick(NUMBERS);
      const same = k.type === V.FLOAT32 || k.type === V.FLOAT64 ? { ...k, value } : retyped(k, rand);
      return { bytes: build([same]), what: `value ${k.key}=${String(value)}` };
    }
    case 4: {
      const key = pick([`${arch}.expert_count`, `${arch}.expert_used_count`, `${arch}.attention.head_count_kv`, `${arch}.rope.dimension_count`, `${arch}.attention.sliding_window`, "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.padding_token_id"]);
      const value = pick([0, 1, 2, 3, 7, 2 ** 20, 2 ** 32 - 1]);
      return { bytes: build([{ key, type: V.UINT32, value }]), what: `set ${key}=${value}` };
    }
    case 5: {
      // tensor infos: a flipped bit changes a shape, a type or an offset
      const b = Buffer.from(bytes);
      const at = file.tensorInfoSpan.start + Math.floor(rand() * (file.tensorInfoSpan.end - file.tensorInfoSpan.start));
      b[at]! ^= 1 << Math.floor(rand() * 8);
      return { bytes: b, what: `tensor info bit at ${at}` };
    }
    default: {
      // alignment: a new value changes where the data section starts, so the tensors move with it
      const value = pick([1, 2, 4, 8, 16, 32, 64, 3, 48]);
      const at = bytes.indexOf("general.alignment");
      const b = Buffer.from(bytes);
      if (at >= 0) {
        b.writeUInt32LE(value, at + 17 + 4);
        return { bytes: b, what: `alignment ${value}` };
      }
      // the writer refuses to re-align, so add the key under a name of the same length and rename it
      const added = build([{ key: "general.alignmenX", type: V.UINT32, value }]);
      added.write("general.alignment", added.indexOf("general.alignmenX"), "latin1");
      return { bytes: added, what: `add alignment ${value}` };
    }
  }
}

/** The child: loads each file named on stdin, evaluates one prompt, answers one line per file. */
async function child(): Promise<void> {
  const lines = createInterface({ input: process.stdin });
  for await (const path of lines) {
    let outcome = "loaded";
    try {
      const model = await DebiasModel.load(path);
      try {
        const evaluator = await model.createEvaluator({ threads: 1, nCtx: 64, nSeqMax: 1 });
        const tokens = model.tokenize("Once upon a time she").slice(0, 32);
        await evaluator.evaluate({ prompts: [tokens], distributions: [{ prompt: 0, position: tokens.length - 1 }] });
      } finally {
        model.dispose();
      }
    } catch (err) {
      outcome = isDebiasError(err) ? `rejected:${err.code}` : `error:${(err as Error)?.message?.slice(0, 80)}`;
    }
    process.stdout.write(`${outcome}\n`);
  }
}

const CASE_TIMEOUT_MS = 20_000;

export interface LoaderFuzzReport {
  readonly iterations: number;
  readonly outcomes: Record<string, number>;
  /** What was mutated in each case that killed or hung the child, with its iteration. */
  readonly aborts: string[];
}

export async function fuzzLoader(iterations: number, seed: number): Promise<LoaderFuzzReport> {
  const dir = mkdtempSync(join(tmpdir(), "gguf-fuzz-loader-"));
  const fixtures = join(packageRoot(), "test", "fixtures");
  const bases: Base[] = [];
  for (const name of BASES) {
    const path = join(fixtures, `${name}.gguf`);
    bases.push({ name, bytes: readFileSync(path), file: await openGguf(path) });
  }
  const rand = seededRandom(seed);
  const outcomes: Record<string, number> = {};
  const aborts: string[] = [];
  let proc: ChildProcessWithoutNullStreams | null = null;
  let answers: AsyncIterator<string> | null = null;
  const start = (): void => {
    proc = spawn(process.execPath, [fileURLToPath(import.meta.url), "--child"], { stdio: "pipe" });
    answers = createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
  };
  try {
    for (let i = 0; i < iterations; i++) {
      const base = bases[Math.floor(rand() * bases.length)]!;
      const { bytes, what } = mutate(base, rand);
      const path = join(dir, `case-${i}.gguf`);
      writeFileSync(path, bytes);
      if (!proc) start();
      proc!.stdin.write(`${path}\n`);
      const answer = await Promise.race([answers!.next(), new Promise<"hang">((resolve) => setTimeout(resolve, CASE_TIMEOUT_MS, "hang").unref())]);
      let outcome: string;
      if (answer === "hang") {
        outcome = "HANG";
        aborts.push(`#${i} ${base.name}: ${what} (no answer in ${CASE_TIMEOUT_MS / 1000} s)`);
        proc!.kill("SIGKILL");
        proc = null;
      } else if (answer.done) {
        const code = await new Promise<string>((resolve) => {
          const p = proc!;
          if (p.exitCode !== null || p.signalCode !== null) resolve(String(p.signalCode ?? p.exitCode));
          else p.once("exit", (c, s) => resolve(String(s ?? c)));
        });
        outcome = `ABORT (${code})`;
        aborts.push(`#${i} ${base.name}: ${what}`);
        proc = null;
      } else {
        outcome = answer.value;
      }
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      rmSync(path, { force: true });
    }
  } finally {
    (proc as ChildProcessWithoutNullStreams | null)?.stdin.end();
    rmSync(dir, { recursive: true, force: true });
  }
  return { iterations, outcomes, aborts };
}

if (process.argv.includes("--child")) await child();
