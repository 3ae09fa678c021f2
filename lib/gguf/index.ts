// The GGUF file format: read headers and tensor data, write files, ggml's type table.
export { GgufValueType, type GgufArray, type GgufArrayItems, type GgufKv, type GgufValue } from "./format.js";
export { GGML_TYPES, ggmlTypeById, ggmlTypeByName, type GgmlType, type ScaleField } from "./ggml-types.js";
export { openGguf, type ByteRange, type GgufFile, type GgufTensor } from "./reader.js";
export { buildGguf, encodeKv, layoutGguf, reheader, type TensorData, type TensorLayout } from "./writer.js";
