// Reads weight tensors of a GGUF file as floats: the raw bytes from the file, dequantized by ggml itself.
import { open } from "node:fs/promises";
import { DebiasError } from "../errors.js";
import type { GgufFile, GgufTensor } from "./reader.js";
import { native } from "../native.js";

export function requireTensor(file: GgufFile, name: string): GgufTensor {
  const tensor = file.tensor(name);
  if (!tensor) throw new DebiasError("E_TENSOR_MISSING", `${file.path} has no tensor ${name}`);
  return tensor;
}

/** Rows [first, first + count) of a tensor (a row is ne[0] elements), as floats. */
export async function readRows(file: GgufFile, tensor: GgufTensor, first = 0, count = tensor.nRows): Promise<Float32Array> {
  if (first < 0 || count < 0 || first + count > tensor.nRows) {
    throw new DebiasError("E_ARGUMENT", `rows ${first}..${first + count} are outside tensor ${tensor.name}, which has ${tensor.nRows}`);
  }
  const bytes = Buffer.alloc(count * tensor.rowBytes);
  const handle = await open(file.path, "r");
  try {
    const { bytesRead } = await handle.read(bytes, 0, bytes.length, tensor.absoluteOffset + first * tensor.rowBytes);
    if (bytesRead !== bytes.length) throw new DebiasError("E_GGUF_TRUNCATED", `${file.path} ends inside tensor ${tensor.name}`);
  } finally {
    await handle.close();
  }
  return native().dequantize(tensor.type.id, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length), count * tensor.ne[0]!);
}
