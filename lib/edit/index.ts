// The GGUF layer: read headers, plan neuron edits as byte patches, apply them in place (journaled,
// undoable, crash-safe) or into a new file with provenance.
export { GgufValueType, type GgufArray, type GgufArrayItems, type GgufKv, type GgufValue } from "./format.js";
export { GGML_TYPES, ggmlTypeById, ggmlTypeByName, type GgmlType, type ScaleField } from "./ggml-types.js";
export { openGguf, type ByteRange, type GgufFile, type GgufTensor } from "./reader.js";
export { buildGguf, encodeKv, layoutGguf, reheader, type TensorData, type TensorLayout } from "./writer.js";
export { planNeuronEdits, type BytePatch, type EditPlan, type NeuronEdit, type PlanOptions, type Requantizer } from "./neuron-edit.js";
export {
  checkNewFileTarget,
  editInPlace,
  editToNewFile,
  hasInterruptedEdit,
  listEdits,
  recover,
  sha256File,
  undo,
  undoAll,
  type EditHistory,
  type EditHistoryEntry,
  type EditOptions,
  type EditResult,
  type NewFileOptions,
  type NewFileResult,
  type Provenance,
  type RecoverResult,
  type UndoResult,
} from "./editor.js";
