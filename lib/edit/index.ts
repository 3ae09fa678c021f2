// Editing: plan neuron edits as byte patches, apply them in place (journaled, undoable, crash-safe)
// or into a new file with provenance.
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
