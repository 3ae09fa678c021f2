// Plans neuron edits as byte patches without writing anything.
//
// Neuron i of layer l is row i of blk.l.ffn_up / blk.l.ffn_gate (a run of whole blocks, ne0 = n_embd)
// and column i of blk.l.ffn_down (element i of each of its n_embd rows, cutting across blocks).
// - zero: gated FFN → zero gate row i (act(0)·up = 0 for silu, gelu, relu); ungated → zero up row i
//   and its bias element, so the pre-activation is exactly 0 and gelu(0) = relu(0) = 0.
//   All-zero bytes decode to exactly 0 in every ggml type.
// - scale α: gated FFN → scale up row i (the output is linear in it): float types element by element,
//   quantised types by multiplying each block's scale fields. Ungated → scale column i of ffn_down:
//   float types element by element; quantised types only through an injected requantizer.
// Fused gate-up tensors (phi3: ffn_up of 2·n_ff rows, no ffn_gate) follow ggml_swiglu: the first
// n_ff rows are the gate, the next n_ff the up projection.
import type { FileHandle } from "node:fs/promises";
import { DebiasError } from "../errors.js";
import { bf16ToNumber, f16ToNumber, numberToBf16, numberToF16 } from "../gguf/float.js";
import type { ElementEncoding, ScaleField } from "../gguf/ggml-types.js";
import { openForReading, readAt, type GgufFile, type GgufTensor } from "../gguf/reader.js";

export interface NeuronEdit {
  readonly layer: number;
  readonly index: number;
  /** 0 zeroes the neuron; any other finite non-negative value multiplies its output. */
  readonly scale: number;
}

export interface BytePatch {
  /** Absolute file offset. */
  readonly offset: number;
  readonly length: number;
  readonly bytes: Buffer;
  /** The bytes the plan was computed from, so an editor can refuse a file that changed since. */
  readonly original: Buffer;
}

/** Provided by the native addon: ggml's own (de)quantisation, so TypeScript never re-implements it. */
export interface Requantizer {
  /** `type` is the ggml_type id. */
  dequantize(type: number, bytes: Buffer, nElements: number): Promise<Float32Array>;
  quantize(type: number, values: Float32Array, nPerRow: number): Promise<Buffer>;
}

export interface PlanOptions {
  readonly requantizer?: Requantizer;
}

export interface EditPlan {
  readonly path: string;
  readonly fileSize: number;
  readonly edits: readonly NeuronEdit[];
  /** Sorted, non-overlapping, and each one changes at least one byte. */
  readonly patches: readonly BytePatch[];
  /** One line per edit saying which bytes of which tensors it changes, then any caveats. */
  readonly description: readonly string[];
  /**
   * Largest relative difference between a value as stored and the exact α·value, from rounding it to
   * its storage format (an fp16 block scale: ≤ 2^-11; F16 elements ≤ 2^-11, BF16 ≤ 2^-8, F32 ≤ 2^-24,
   * each while the result stays a normal number). 0 when nothing was rounded.
   */
  readonly maxRelError: number;
  /** Largest absolute change to any weight beyond the asked edit, from requantisation; 0 without it. */
  readonly maxAbsError: number;
}

interface Ffn {
  readonly layer: number;
  readonly nFf: number;
  readonly up: GgufTensor;
  readonly upBias: GgufTensor | undefined;
  /** The tensor and bias holding the gate rows, if the FFN is gated (possibly fused into up). */
  readonly gate: GgufTensor | undefined;
  readonly gateBias: GgufTensor | undefined;
  /** Row of `up` holding neuron 0's up projection: n_ff when gate and up are fused. */
  readonly upRowBase: number;
  readonly down: GgufTensor;
}

interface Change {
  offset: number;
  original: Buffer;
  bytes: Buffer;
}

class Planner {
  readonly changes: Change[] = [];
  readonly description: string[] = [];
  maxRelError = 0;
  maxAbsError = 0;

  constructor(
    private readonly file: GgufFile,
    private readonly fh: FileHandle,
    private readonly options: PlanOptions,
  ) {}

  read(offset: number, length: number): Promise<Buffer> {
    return readAt(this.fh, this.file.path, offset, length);
  }

  async zeroRow(t: GgufTensor, row: number): Promise<string> {
    const offset = t.absoluteOffset + row * t.rowBytes;
    this.changes.push({ offset, original: await this.read(offset, t.rowBytes), bytes: Buffer.alloc(t.rowBytes) });
    return `zero row ${row} of ${t.name} (${t.type.name}, ${t.rowBytes} bytes)`;
  }

  async scaleRow(t: GgufTensor, row: number, alpha: number): Promise<string> {
    const offset = t.absoluteOffset + row * t.rowBytes;
    const original = await this.read(offset, t.rowBytes);
    const { type } = t;
    if (type.element) {
      this.changes.push({ offset, original, bytes: this.scaleElements(t, original, type.element, alpha) });
      return `scale row ${row} of ${t.name} by ${alpha} (${type.name}, element-wise)`;
    }
    const fields = type.scales;
    if (!fields) {
      throw new DebiasError("E_EDIT_TYPE", `Cannot scale row ${row} of ${t.name}: ${type.name} blocks have no scale field that multiplies every value.`);
    }
    const bytes = Buffer.from(original);
    for (let block = 0; block < t.rowBytes / type.typeSize; block++) {
      for (const field of fields) this.scaleField(t, bytes, block * type.typeSize + field.offset, field, alpha);
    }
    this.changes.push({ offset, original, bytes });
    return `scale row ${row} of ${t.name} by ${alpha} (${type.name}, block scales ${fields.map((f) => `+${f.offset}`).join(" ")})`;
  }

  /** Element `index` of a 1-D float tensor (a bias), zeroed when alpha is 0. */
  async scaleElement(t: GgufTensor, row: number, index: number, alpha: number): Promise<string> {
    const enc = t.type.element;
    if (!enc) throw new DebiasError("E_EDIT_TYPE", `Cannot edit element ${index} of ${t.name}: its type ${t.type.name} is not a float type.`);
    const offset = t.absoluteOffset + row * t.rowBytes + index * t.type.typeSize;
    const original = await this.read(offset, t.type.typeSize);
    const bytes = alpha === 0 ? Buffer.alloc(original.length) : this.scaleElements(t, original, enc, alpha);
    this.changes.push({ offset, original, bytes });
    return alpha === 0 ? `zero ${t.name}[${index}]` : `scale ${t.name}[${index}] by ${alpha}`;
  }

  async scaleColumn(t: GgufTensor, index: number, alpha: number): Promise<string> {
    for (let row = 0; row < t.nRows; row++) await this.scaleElement(t, row, index, alpha);
    return `scale column ${index} of ${t.name} by ${alpha} (${t.type.name}, ${t.nRows} elements)`;
  }

  /** Columns of a quantised tensor: dequantise the blocks they cut through, scale, requantise. */
  async scaleColumnsRequantized(t: GgufTensor, columns: ReadonlyMap<number, number>): Promise<string> {
    const rq = this.options.requantizer;
    const { type } = t;
    if (!rq) {
      throw new DebiasError("E_EDIT_NEEDS_REQUANT",
        `Cannot scale columns of ${t.name} (${type.name}) exactly: the columns cut across quantised blocks, so they must be requantised, which needs the native addon.`);
    }
    const blocks = [...new Set([...columns.keys()].map((c) => Math.floor(c / type.blockSize)))].sort((a, b) => a - b);
    const nBlocks = t.nRows * blocks.length;
    const nValues = nBlocks * type.blockSize;
    const offsets: number[] = [];
    for (let row = 0; row < t.nRows; row++) {
      for (const b of blocks) offsets.push(t.absoluteOffset + row * t.rowBytes + b * type.typeSize);
    }
    const originals = await Promise.all(offsets.map((o) => this.read(o, type.typeSize)));
    const values = await this.requant(t, () => rq.dequantize(type.id, Buffer.concat(originals), nValues), nValues * 4);
    const target = Float32Array.from(values);
    for (const [col, alpha] of columns) {
      const k = blocks.indexOf(Math.floor(col / type.blockSize));
      const within = col % type.blockSize;
      for (let row = 0; row < t.nRows; row++) target[(row * blocks.length + k) * type.blockSize + within]! *= alpha;
    }
    const quantized = await this.requant(t, () => rq.quantize(type.id, target, type.blockSize), nBlocks * type.typeSize);
    const back = await this.requant(t, () => rq.dequantize(type.id, quantized, nValues), nValues * 4);
    if (!back.every(Number.isFinite)) {
      throw new DebiasError("E_EDIT_OVERFLOW",
        `Scaling columns of ${t.name} (${type.name}) by up to ${Math.max(...columns.values())} overflows its storage format: the requantised blocks would hold values that are not finite.`);
    }
    for (let i = 0; i < nValues; i++) this.maxAbsError = Math.max(this.maxAbsError, Math.abs(back[i]! - target[i]!));
    offsets.forEach((offset, i) => {
      this.changes.push({ offset, original: originals[i]!, bytes: Buffer.from(quantized.subarray(i * type.typeSize, (i + 1) * type.typeSize)) });
    });
    return `requantised ${nBlocks} ${type.name} blocks of ${t.name}`;
  }

  private async requant<T extends Float32Array | Buffer>(t: GgufTensor, call: () => Promise<T>, byteLength: number): Promise<T> {
    let out: T;
    try {
      out = await call();
    } catch (err) {
      throw new DebiasError("E_REQUANT_FAILED", `Requantising ${t.name} (${t.type.name}) failed: ${(err as Error).message}.`, { cause: err });
    }
    if (out.byteLength !== byteLength) {
      throw new DebiasError("E_REQUANT_FAILED", `Requantising ${t.name} (${t.type.name}) returned ${out.byteLength} bytes, expected ${byteLength}.`);
    }
    return out;
  }

  private scaleElements(t: GgufTensor, src: Buffer, enc: ElementEncoding, alpha: number): Buffer {
    const out = Buffer.from(src);
    const width = t.type.typeSize;
    for (let at = 0; at < out.length; at += width) {
      const x = readElement(out, at, enc);
      const exact = x * alpha;
      const stored = writeElement(out, at, enc, exact);
      this.noteRounding(t, exact, stored);
    }
    return out;
  }

  private scaleField(t: GgufTensor, block: Buffer, at: number, field: ScaleField, alpha: number): void {
    switch (field.encoding) {
      case "f16":
      case "f32": {
        const enc = field.encoding;
        const exact = readElement(block, at, enc) * alpha;
        this.noteRounding(t, exact, writeElement(block, at, enc, exact));
        return;
      }
      case "iq1m-nibbles": {
        const words = [0, 1, 2, 3].map((k) => block.readUInt16LE(at + 2 * k));
        const bits = (words[0]! >> 12) | ((words[1]! >> 8) & 0xf0) | ((words[2]! >> 4) & 0xf00) | (words[3]! & 0xf000);
        const exact = f16ToNumber(bits) * alpha;
        const scaled = numberToF16(exact);
        this.noteRounding(t, exact, f16ToNumber(scaled));
        words.forEach((w, k) => block.writeUInt16LE((w & 0x0fff) | (((scaled >> (4 * k)) & 0xf) << 12), at + 2 * k));
        return;
      }
      case "e8m0": {
        const k = Math.log2(alpha);
        const e = block[at]!;
        // exponents below 2 decode through ggml's denormal special case, so stay clear of them
        if (!Number.isInteger(k) || e < 2 || e + k < 2 || e + k > 254) {
          throw new DebiasError("E_EDIT_SCALE_INEXACT",
            `Cannot scale ${t.name} (${t.type.name}) by ${alpha}: its block scales are powers of two, so only a power-of-two scale that keeps them in range is exact.`);
        }
        block[at] = e + k;
        return;
      }
    }
  }

  private noteRounding(t: GgufTensor, exact: number, stored: number): void {
    if (!Number.isFinite(stored) && Number.isFinite(exact)) {
      throw new DebiasError("E_EDIT_OVERFLOW", `Scaling ${t.name} (${t.type.name}) overflows its storage format (a value ${exact} is out of range).`);
    }
    if (exact !== 0 && Number.isFinite(exact)) this.maxRelError = Math.max(this.maxRelError, Math.abs(stored - exact) / Math.abs(exact));
  }
}

function readElement(b: Buffer, at: number, enc: ElementEncoding): number {
  switch (enc) {
    case "f32":
      return b.readFloatLE(at);
    case "f64":
      return b.readDoubleLE(at);
    case "f16":
      return f16ToNumber(b.readUInt16LE(at));
    case "bf16":
      return bf16ToNumber(b.readUInt16LE(at));
  }
}

/** Stores `v` rounded to the encoding and returns the value actually stored. */
function writeElement(b: Buffer, at: number, enc: ElementEncoding, v: number): number {
  switch (enc) {
    case "f32":
      b.writeFloatLE(v, at);
      break;
    case "f64":
      b.writeDoubleLE(v, at);
      break;
    case "f16":
      b.writeUInt16LE(numberToF16(v), at);
      break;
    case "bf16":
      b.writeUInt16LE(numberToBf16(v), at);
      break;
  }
  return readElement(b, at, enc);
}

function refuse(code: string, message: string): never {
  throw new DebiasError(code, message);
}

function validateEdits(edits: readonly NeuronEdit[]): void {
  if (edits.length === 0) refuse("E_EDIT_EMPTY", "The edit list is empty: name at least one neuron to edit.");
  const seen = new Set<string>();
  for (const e of edits) {
    const what = `neuron (layer ${e.layer}, index ${e.index})`;
    if (!Number.isSafeInteger(e.layer) || e.layer < 0) refuse("E_LAYER_RANGE", `The layer of ${what} is not a non-negative integer.`);
    if (!Number.isSafeInteger(e.index) || e.index < 0) refuse("E_NEURON_RANGE", `The index of ${what} is not a non-negative integer.`);
    if (typeof e.scale !== "number" || !Number.isFinite(e.scale) || e.scale < 0) {
      refuse("E_EDIT_SCALE", `The scale ${e.scale} for ${what} must be a finite number ≥ 0.`);
    }
    const key = `${e.layer}:${e.index}`;
    if (seen.has(key)) refuse("E_EDIT_DUPLICATE", `${what[0]!.toUpperCase()}${what.slice(1)} appears twice in one edit list.`);
    seen.add(key);
  }
}

const is2d = (t: GgufTensor): boolean => t.ne.slice(2).every((n) => n === 1);

function resolveFfn(file: GgufFile, layer: number): Ffn {
  const blockCount = file.arch === undefined ? undefined : file.kvInteger(`${file.arch}.block_count`);
  if (blockCount !== undefined && layer >= blockCount) {
    refuse("E_LAYER_RANGE", `Layer ${layer} is out of range: ${file.path} has ${blockCount} layers (0–${blockCount - 1}).`);
  }
  const name = (part: string): string => `blk.${layer}.${part}`;
  const get = (part: string): GgufTensor | undefined => file.tensor(name(part));
  const need = (part: string): GgufTensor =>
    get(part) ?? refuse("E_TENSOR_MISSING", `${file.path} has no tensor ${name(part)}, so layer ${layer} has no dense FFN to edit.`);
  const expert = ["ffn_up_exps.weight", "ffn_gate_exps.weight", "ffn_down_exps.weight"].find((p) => get(p));
  if (expert && !get("ffn_up.weight")) {
    refuse("E_EDIT_MOE", `Layer ${layer} of ${file.path} is a mixture of experts (${name(expert)}); per-expert neuron edits are not supported.`);
  }
  const up = need("ffn_up.weight");
  const down = need("ffn_down.weight");
  const gate = get("ffn_gate.weight");
  for (const t of [up, down, gate]) {
    if (t && !is2d(t)) refuse("E_EDIT_MOE", `${t.name} in ${file.path} has shape [${t.ne.join(", ")}], not a 2-D matrix; expert tensors are not supported.`);
  }
  const nFf = down.ne[0] ?? 1;
  const nEmbd = down.ne[1] ?? 1;
  const upRows = up.ne[1] ?? 1;
  const fused = !gate && upRows === 2 * nFf;
  const shapeOk = (up.ne[0] ?? 1) === nEmbd && (upRows === nFf || fused) && (!gate || gate.ne.join() === up.ne.join());
  if (!shapeOk) {
    refuse("E_TENSOR_SHAPE",
      `The FFN of layer ${layer} in ${file.path} has inconsistent shapes: ${[up, gate, down].flatMap((t) => (t ? [`${t.name} [${t.ne.join(", ")}]`] : [])).join(", ")}.`);
  }
  const bias = (part: string, rows: number): GgufTensor | undefined => {
    const t = get(part);
    if (t && t.nElements !== rows) refuse("E_TENSOR_SHAPE", `${t.name} in ${file.path} has ${t.nElements} elements, expected ${rows}.`);
    return t;
  };
  const upBias = bias("ffn_up.bias", upRows);
  return {
    layer,
    nFf,
    up,
    upBias,
    gate: gate ?? (fused ? up : undefined),
    gateBias: gate ? bias("ffn_gate.bias", upRows) : fused ? upBias : undefined,
    upRowBase: fused ? nFf : 0,
    down,
  };
}

/** Plans the byte patches for `edits` on `file`, reading only the rows it changes. */
export async function planNeuronEdits(file: GgufFile, edits: readonly NeuronEdit[], options: PlanOptions = {}): Promise<EditPlan> {
  validateEdits(edits);
  const ffns = new Map<number, Ffn>();
  for (const e of edits) {
    const ffn = ffns.get(e.layer) ?? resolveFfn(file, e.layer);
    ffns.set(e.layer, ffn);
    if (e.index >= ffn.nFf) {
      refuse("E_NEURON_RANGE", `Neuron index ${e.index} is out of range for layer ${e.layer} of ${file.path}: it has ${ffn.nFf} FFN neurons (0–${ffn.nFf - 1}).`);
    }
  }
  const fh = await openForReading(file.path);
  const p = new Planner(file, fh, options);
  try {
    const st = await fh.stat();
    if (st.size !== file.fileSize) {
      refuse("E_EDIT_CONFLICT", `${file.path} changed size since it was opened (${file.fileSize} → ${st.size} bytes); open it again.`);
    }
    const requant = new Map<number, Map<number, number>>();
    for (const e of edits) {
      const ffn = ffns.get(e.layer)!;
      const alpha = Math.fround(e.scale);
      const steps: string[] = [];
      if (alpha === 0) {
        const t = ffn.gate ?? ffn.up;
        const bias = ffn.gate ? ffn.gateBias : ffn.upBias;
        steps.push(await p.zeroRow(t, e.index));
        if (bias) steps.push(await p.scaleElement(bias, 0, e.index, 0));
      } else if (ffn.gate) {
        const row = ffn.upRowBase + e.index;
        steps.push(await p.scaleRow(ffn.up, row, alpha));
        if (ffn.upBias) steps.push(await p.scaleElement(ffn.upBias, 0, row, alpha));
      } else if (ffn.down.type.element) {
        steps.push(await p.scaleColumn(ffn.down, e.index, alpha));
      } else {
        const cols = requant.get(e.layer) ?? new Map<number, number>();
        requant.set(e.layer, cols.set(e.index, alpha));
        steps.push(`scale column ${e.index} of ${ffn.down.name} by ${alpha} (${ffn.down.type.name}, requantised)`);
      }
      p.description.push(`layer ${e.layer} neuron ${e.index} ×${e.scale}: ${steps.join("; ")}`);
    }
    for (const [layer, cols] of requant) p.description.push(await p.scaleColumnsRequantized(ffns.get(layer)!.down, cols));
  } finally {
    await fh.close();
  }
  if (p.maxAbsError > 0) p.description.push(`requantisation changed weights by up to ${p.maxAbsError} (absolute)`);
  return {
    path: file.path,
    fileSize: file.fileSize,
    edits: [...edits],
    patches: coalesce(file.path, p.changes),
    description: p.description,
    maxRelError: p.maxRelError,
    maxAbsError: p.maxAbsError,
  };
}

/** Sorts changes, rejects overlaps, drops no-ops and merges touching ranges into single writes. */
function coalesce(path: string, changes: readonly Change[]): BytePatch[] {
  const sorted = changes.filter((c) => !c.bytes.equals(c.original)).sort((a, b) => a.offset - b.offset);
  const runs: Change[][] = [];
  let end = -1;
  for (const c of sorted) {
    if (c.offset < end) refuse("E_EDIT_OVERLAP", `Two edits of ${path} touch the same bytes at offset ${c.offset}; edit each neuron once.`);
    if (c.offset === end) runs[runs.length - 1]!.push(c);
    else runs.push([c]);
    end = c.offset + c.bytes.length;
  }
  return runs.map((run) => {
    const bytes = Buffer.concat(run.map((c) => c.bytes));
    return { offset: run[0]!.offset, length: bytes.length, bytes, original: Buffer.concat(run.map((c) => c.original)) };
  });
}
