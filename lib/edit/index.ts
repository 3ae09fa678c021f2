// Editing: plan neuron edits as byte patches, apply them in place (journaled, undoable, crash-safe)
// or into a new file with provenance.
export { planNeuronEdits, type BytePatch, type EditPlan, type NeuronEdit, type PlanOptions, type Requantizer } from "./neuron-edit.js";
export { editInPlace, hasInterruptedEdit, listEdits, recover, undo, undoAll, type EditHistory, type EditHistoryEntry, type EditResult, type RecoverResult, type UndoResult } from "./editor.js";
export { checkNewFileTarget, editToNewFile, type NewFileOptions, type NewFileResult } from "./new-file.js";
export type { EditOptions } from "./edit-options.js";
export type { Provenance } from "./provenance.js";
