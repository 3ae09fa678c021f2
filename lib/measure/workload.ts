// What a measurement runs on: the probes of a dataset and a neutral text, from files or bundled names.
import { DebiasError } from "../errors.js";
import { readUserFile } from "../files.js";
import { loadDataset, type BiasDataset } from "./dataset.js";
import { defaultNeutralSentences } from "./neutral-text.js";

export interface Workload {
  dataset: BiasDataset;
  neutralText: string[];
}

/**
 * Far more than a text within NeutralText's bound holds (the bundled one is 2 KB), so a larger file is
 * refused before it is tokenized: one 10 MB line took 106 s and 610 MB to tokenize, 1 MB 1.9 s.
 */
const MAX_NEUTRAL_FILE_BYTES = 2 ** 20;

/** Neutral sentences from a text file: one a line, blank lines skipped. */
export async function readNeutralText(file: string): Promise<string[]> {
  const bytes = await readUserFile(file, "neutral text file", MAX_NEUTRAL_FILE_BYTES);
  let text: string;
  try {
    // NUL bytes are valid UTF-8, but no text holds them: a model file given by mistake does.
    if (bytes.includes(0)) throw new Error("NUL byte");
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new DebiasError("E_NEUTRAL_TEXT", `The neutral text file ${file} is not UTF-8 text (a model or other binary file?); give one sentence a line.`);
  }
  const lines = text.split("\n").map((s) => s.trim()).filter(Boolean);
  if (lines.length === 0) throw new DebiasError("E_NEUTRAL_TEXT", `The neutral text file ${file} holds no text.`);
  return lines;
}

/** The bundled CommonWords dataset, or another by file or bundled name; its own neutral text unless one is given. */
export async function defaultWorkload(datasetFile?: string, neutralFile?: string): Promise<Workload> {
  const dataset = await loadDataset(datasetFile);
  const neutralText = neutralFile ? await readNeutralText(neutralFile) : (dataset.neutralText ?? defaultNeutralSentences());
  return { dataset, neutralText };
}
