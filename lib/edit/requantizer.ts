// ggml's own quantizers, in the shape the GGUF editor asks for when a column edit crosses quant blocks.
import type { Requantizer } from "./neuron-edit.js";
import { native } from "../native.js";

export const nativeRequantizer: Requantizer = {
  dequantize: (type, bytes, nElements) => native().dequantize(type, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length), nElements),
  quantize: async (type, values, nPerRow) => {
    const out = await native().quantize(type, values, nPerRow);
    return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
  },
};
