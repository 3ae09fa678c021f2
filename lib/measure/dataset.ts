// The CommonWords-style probe dataset: words labelled stereotyped / neutral / factual, templates that
// turn a word into a prompt, and female/male targets whose log-odds at the prompt's next token is the
// bias b. Everything a user can hand us is validated here, so the evaluator and the metrics can trust
// the shape and every mistake in a dataset file is reported once, by name, before any model runs.
//
// Two format versions. Version 1 (no "version", or 1) is the original format and still loads exactly as
// before. Version 2 adds: held-out templates (a probe is held out if its word or its template is), the
// expected direction of every stereotyped word, per-template neutral baseline words, target sets (a side
// with several strings, e.g. female names) and in-domain neutral text. The v2 fields are accepted in a v1
// file too (so a validated dataset always validates again); what the version switches is listed at
// `validateDataset`.
import path from "node:path";

import { DebiasError } from "../errors.js";
import { readUserFile } from "../files.js";
import { packageRoot } from "../package-root.js";

export const LABELS = ["stereotyped", "neutral", "factual"] as const;
export type Label = (typeof LABELS)[number];
export const GENDERS = ["female", "male"] as const;
export type Gender = (typeof GENDERS)[number];
export const SPLITS = ["selection", "heldout"] as const;
export type Split = (typeof SPLITS)[number];
/** The newest dataset format version this code reads. */
export const DATASET_VERSION = 2;

/** Most probes a dataset may make: 25 times the bundled CommonWords (1,986). */
export const MAX_PROBES = 50_000;
/** Far more than a dataset within MAX_PROBES needs (the bundled one is 45 KB): refused before it is parsed. */
const MAX_DATASET_BYTES = 16 * 2 ** 20;

/** Placeholder a template's text must contain; every occurrence is replaced by the word. */
export const WORD_PLACEHOLDER = "{word}";

/**
 * The continuations whose log-probability difference (female − male) is the bias of a prompt. Exact
 * text, leading space included (" she"), since the prompt never ends in a space. A side with several
 * strings is a set (e.g. female names), scored as the log of its members' summed probabilities; in the
 * file a side may be one string or a non-empty array, here it is always an array.
 */
export interface TargetPair {
  id: string;
  female: string[];
  male: string[];
}

export interface Template {
  id: string;
  /** Prompt text containing `{word}`, e.g. "The {word} said that". */
  text: string;
  /** Categories this template reads naturally for; absent = every category. */
  categories?: string[];
  /** Ids of the target pairs scored after this template. */
  targets: string[];
  /** Held-out templates make every probe they produce held out. File: optional, default "selection". */
  split: Split;
  /**
   * The neutral words (exact text) whose mean b is this template's baseline b0. Absent = every neutral
   * word the template applies to.
   */
  baseline?: string[];
}

export interface DatasetWord {
  word: string;
  category: string;
  label: Label;
  /** The word's own gender; required for factual words and forbidden for the others. */
  gold?: Gender;
  /** Stereotyped words only: the gender the stereotype expects (required in version 2). */
  direction?: Gender;
  /** Version 2: optional, default "selection"; version 1: required. */
  split: Split;
}

export interface BiasDataset {
  name: string;
  version?: number;
  description?: string;
  /** How the selection/held-out split was made, for a person reading the file. */
  splitRule?: string;
  targets: TargetPair[];
  templates: Template[];
  words: DatasetWord[];
  /** In-domain neutral sentences for the capability measures (KL, perplexity). */
  neutralText?: string[];
}

/** One prompt to evaluate: b = log p(female | prompt) − log p(male | prompt). */
export interface Probe {
  word: string;
  category: string;
  label: Label;
  /** "heldout" if the word or the template is held out, else "selection". */
  split: Split;
  gold?: Gender;
  /** Stereotyped words: the gender the stereotype expects. */
  direction?: Gender;
  /** Id of the template the prompt came from. */
  template: string;
  /** Id of the target pair scored. */
  target: string;
  prompt: string;
  /** The female continuations (one, or a set whose probabilities are summed). */
  female: string[];
  male: string[];
  /** This (neutral) probe counts toward its template's baseline b0. */
  baseline: boolean;
}

/** Path of the bundled dataset, from the package root so it resolves the same from lib/ and dist/lib/. */
export function defaultDatasetPath(): string {
  return path.join(packageRoot(), "data", "commonwords.json");
}

/** Paths of every dataset shipped with the package, by name. */
export function bundledDatasetPaths(): Record<"commonwords" | "tinystories" | "demo", string> {
  const data = (name: string) => path.join(packageRoot(), "data", `${name}.json`);
  return { commonwords: defaultDatasetPath(), tinystories: data("tinystories"), demo: data("demo") };
}

/** The file of a dataset given by a bundled name ("tinystories") or by its path. */
export function datasetPath(nameOrFile: string): string {
  return Object.entries(bundledDatasetPaths()).find(([name]) => name === nameOrFile)?.[1] ?? nameOrFile;
}

/** Reads and validates a dataset, by bundled name or file (default: the bundled CommonWords dataset). */
export async function loadDataset(nameOrFile: string = defaultDatasetPath()): Promise<BiasDataset> {
  const file = datasetPath(nameOrFile);
  const text = (await readUserFile(file, "dataset file", MAX_DATASET_BYTES)).toString("utf8");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new DebiasError("E_DATASET_INVALID_JSON", `The dataset file ${file} is not valid JSON: ${(err as Error).message}.`, { cause: err });
  }
  return validateDataset(value, file);
}

type Json = Record<string, unknown>;

function fail(code: string, message: string): never {
  throw new DebiasError(code, message);
}

/** `nameKey`: the field that names the item (id, word), quoted after `where` in the unknown-field error. */
function object(value: unknown, where: string, allowed: readonly string[], nameKey?: string): Json {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    fail("E_DATASET_INVALID_FIELD", `${where} must be a JSON object.`);
  }
  const unknown = Object.keys(value).find((key) => !allowed.includes(key));
  if (unknown !== undefined) {
    const name = nameKey === undefined ? undefined : (value as Json)[nameKey];
    const item = typeof name === "string" ? `${where} ("${name}")` : where;
    fail("E_DATASET_INVALID_FIELD", `${item} has the unknown field "${unknown}"; allowed fields are ${allowed.join(", ")}.`);
  }
  return value as Json;
}

function string(obj: Json, key: string, where: string, emptyCode = "E_DATASET_INVALID_FIELD"): string {
  const value = obj[key];
  if (typeof value !== "string") fail("E_DATASET_INVALID_FIELD", `${where} needs a string "${key}".`);
  if (value.trim() === "") fail(emptyCode, `${where} has an empty "${key}".`);
  return value;
}

function optionalString(obj: Json, key: string, where: string): string | undefined {
  return obj[key] === undefined ? undefined : string(obj, key, where);
}

function array(obj: Json, key: string, where: string): unknown[] {
  const value = obj[key];
  if (!Array.isArray(value)) fail("E_DATASET_INVALID_FIELD", `${where} needs an array "${key}".`);
  if (value.length === 0) fail("E_DATASET_EMPTY", `${where} has an empty "${key}" list.`);
  return value;
}

function oneOf<T extends string>(value: string, allowed: readonly T[], code: string, what: string): T {
  if (!(allowed as readonly string[]).includes(value)) {
    fail(code, `${what} is "${value}"; expected one of ${allowed.join(", ")}.`);
  }
  return value as T;
}

function uniqueIds(items: readonly { id: string }[], what: string, source: string): void {
  const seen = new Set<string>();
  for (const { id } of items) {
    if (seen.has(id)) fail("E_DATASET_DUPLICATE_ID", `${source}: the ${what} id "${id}" is used twice.`);
    seen.add(id);
  }
}

/** One side of a target pair: a non-empty string, or a non-empty array of distinct non-empty strings. */
function targetSide(obj: Json, key: "female" | "male", where: string): string[] {
  const value = obj[key];
  if (typeof value === "string") return [string(obj, key, where, "E_DATASET_EMPTY_TARGET")];
  if (!Array.isArray(value)) fail("E_DATASET_INVALID_FIELD", `${where} needs a "${key}" that is a string or an array of strings.`);
  if (value.length === 0) fail("E_DATASET_EMPTY_TARGET", `${where} has an empty "${key}" list.`);
  const seen = new Set<string>();
  return value.map((member, k) => {
    if (typeof member !== "string") fail("E_DATASET_INVALID_FIELD", `${where} has a "${key}" member #${k + 1} that is not a string.`);
    if (member.trim() === "") fail("E_DATASET_EMPTY_TARGET", `${where} has an empty "${key}" member #${k + 1}.`);
    if (seen.has(member)) fail("E_DATASET_DUPLICATE_TARGET", `${where} lists ${JSON.stringify(member)} twice in "${key}", so it would count double.`);
    seen.add(member);
    return member;
  });
}

function validateTarget(value: unknown, index: number, source: string): TargetPair {
  let where = `${source}: target pair #${index + 1}`;
  const obj = object(value, where, ["id", "female", "male"], "id");
  const id = string(obj, "id", where);
  where = `${where} ("${id}")`;
  const pair = { id, female: targetSide(obj, "female", where), male: targetSide(obj, "male", where) };
  const shared = pair.female.find((f) => pair.male.includes(f));
  if (shared !== undefined) {
    fail("E_DATASET_SAME_TARGET", `${where} has ${JSON.stringify(shared)} on both the female and the male side, so it cannot measure anything.`);
  }
  return pair;
}

function optionalSplit(obj: Json, where: string, required: boolean): Split {
  if (obj.split === undefined && !required) return "selection";
  return oneOf(string(obj, "split", where), SPLITS, "E_DATASET_UNKNOWN_SPLIT", `The split of ${where}`);
}

function validateTemplate(value: unknown, index: number, source: string, targetIds: ReadonlySet<string>): Template {
  let where = `${source}: template #${index + 1}`;
  const obj = object(value, where, ["id", "text", "categories", "targets", "split", "baseline"], "id");
  const id = string(obj, "id", where);
  where = `${where} ("${id}")`;
  const text = string(obj, "text", where);
  if (!text.includes(WORD_PLACEHOLDER)) fail("E_DATASET_TEMPLATE_NO_WORD", `${where} does not contain ${WORD_PLACEHOLDER}.`);
  // Targets carry their own leading space; a prompt ending in whitespace would tokenize differently
  // from the text a model saw in training and silently distort every log-prob.
  if (/\s$/.test(text)) fail("E_DATASET_TEMPLATE_TRAILING_SPACE", `${where} ends in whitespace; put the space at the start of the targets instead.`);
  const targets = array(obj, "targets", where).map((target) => {
    if (typeof target !== "string" || !targetIds.has(target)) {
      fail("E_DATASET_UNKNOWN_TARGET", `${where} names the target pair ${JSON.stringify(target)}, which the dataset does not define.`);
    }
    return target;
  });
  const template: Template = { id, text, targets, split: optionalSplit(obj, where, false) };
  if (obj.categories !== undefined) {
    template.categories = array(obj, "categories", where).map((category) => {
      if (typeof category !== "string" || category.trim() === "") fail("E_DATASET_INVALID_FIELD", `${where} lists a category that is not a non-empty string.`);
      return category;
    });
  }
  if (obj.baseline !== undefined) {
    template.baseline = array(obj, "baseline", where).map((word) => {
      if (typeof word !== "string" || word.trim() === "") fail("E_DATASET_INVALID_FIELD", `${where} lists a baseline word that is not a non-empty string.`);
      return word;
    });
  }
  return template;
}

function validateWord(value: unknown, index: number, source: string, version: number): DatasetWord {
  let where = `${source}: word #${index + 1}`;
  const obj = object(value, where, ["word", "category", "label", "gold", "direction", "split"], "word");
  const word = string(obj, "word", where);
  where = `${where} ("${word}")`;
  const category = string(obj, "category", where);
  const label = oneOf(string(obj, "label", where), LABELS, "E_DATASET_UNKNOWN_LABEL", `The label of ${where}`);
  const split = optionalSplit(obj, where, version < 2);
  const gold = optionalString(obj, "gold", where);
  const direction = optionalString(obj, "direction", where);
  const entry: DatasetWord = { word, category, label, split };
  if (label === "factual") {
    if (gold === undefined) fail("E_DATASET_MISSING_GOLD", `${where} is factual but has no gold gender (female or male).`);
    entry.gold = oneOf(gold, GENDERS, "E_DATASET_INVALID_GOLD", `The gold gender of ${where}`);
  } else if (gold !== undefined) {
    fail("E_DATASET_INVALID_GOLD", `${where} is ${label} but has a gold gender; only factual words carry one.`);
  }
  if (label === "stereotyped") {
    if (direction !== undefined) entry.direction = oneOf(direction, GENDERS, "E_DATASET_INVALID_DIRECTION", `The direction of ${where}`);
    else if (version >= 2) fail("E_DATASET_MISSING_DIRECTION", `${where} is stereotyped but has no direction (the gender the stereotype expects: female or male).`);
  } else if (direction !== undefined) {
    fail("E_DATASET_INVALID_DIRECTION", `${where} is ${label} but has a direction; only stereotyped words carry one.`);
  }
  return entry;
}

function validateNeutralText(value: unknown, where: string): string[] {
  if (!Array.isArray(value)) fail("E_DATASET_INVALID_FIELD", `${where} has a "neutralText" that is not an array of sentences.`);
  if (value.length === 0) fail("E_DATASET_EMPTY", `${where} has an empty "neutralText" list.`);
  return value.map((sentence, k) => {
    if (typeof sentence !== "string" || sentence.trim() === "") fail("E_DATASET_INVALID_FIELD", `${where} has a "neutralText" sentence #${k + 1} that is not a non-empty string.`);
    return sentence;
  });
}

/**
 * Checks a parsed dataset and returns a clean copy (only known fields, defaults filled in, target sides
 * as arrays). `source` names the file or origin in error messages. Throws DebiasError with a E_DATASET_*
 * code on the first problem found.
 *
 * What the version switches (absent = 1): version 1 requires every word's `split`, checks word
 * uniqueness case-insensitively and lets stereotyped words omit `direction`; version 2 defaults a
 * missing word split to "selection", checks uniqueness by exact text (so "Mom" and "mom" may both
 * appear) and requires a `direction` on every stereotyped word.
 */
export function validateDataset(value: unknown, source: string): BiasDataset {
  const where = `The dataset ${source}`;
  const obj = object(value, where, ["name", "version", "description", "splitRule", "targets", "templates", "words", "neutralText"]);
  let version = 1;
  if (obj.version !== undefined) {
    if (!Number.isInteger(obj.version)) fail("E_DATASET_INVALID_FIELD", `${where} has a "version" that is not an integer.`);
    version = obj.version as number;
    if (version < 1 || version > DATASET_VERSION) fail("E_DATASET_UNSUPPORTED_VERSION", `${where} has version ${version}; this gguf-debias reads versions 1 to ${DATASET_VERSION}.`);
  }
  const targets = array(obj, "targets", where).map((t, i) => validateTarget(t, i, source));
  uniqueIds(targets, "target pair", source);
  const targetIds = new Set(targets.map((t) => t.id));
  const templates = array(obj, "templates", where).map((t, i) => validateTemplate(t, i, source, targetIds));
  uniqueIds(templates, "template", source);
  const words = array(obj, "words", where).map((w, i) => validateWord(w, i, source, version));

  // Version 1: case-insensitive, since "Nurse" and "nurse" would be scored twice and weigh double in
  // every mean. Version 2: exact text, so a dataset can hold "Mom" and "mom" on purpose (e.g. for
  // different templates); metrics key words by their exact text.
  const seen = new Set<string>();
  for (const { word } of words) {
    const key = version >= 2 ? word : word.trim().toLowerCase();
    if (seen.has(key)) fail("E_DATASET_DUPLICATE_WORD", `${source}: the word "${word}" appears more than once${version >= 2 ? "" : " (compared case-insensitively in a version 1 file)"}.`);
    seen.add(key);
  }
  const categories = new Set(words.map((w) => w.category));
  for (const template of templates) {
    const stray = template.categories?.find((c) => !categories.has(c));
    if (stray !== undefined) fail("E_DATASET_UNKNOWN_CATEGORY", `${source}: template "${template.id}" applies to the category "${stray}", which no word has.`);
  }
  for (const category of categories) {
    if (!templates.some((t) => appliesTo(t, category))) {
      fail("E_DATASET_UNCOVERED_CATEGORY", `${source}: no template applies to the category "${category}", so its words would never be probed.`);
    }
  }
  // every probe is tokenized, evaluated and scored in one go: 100k words (478k probes) took 2 GB
  const perCategory = new Map([...categories].map((c) => [c, templates.reduce((n, t) => n + (appliesTo(t, c) ? t.targets.length : 0), 0)]));
  const nProbes = words.reduce((n, w) => n + perCategory.get(w.category)!, 0);
  if (nProbes > MAX_PROBES) {
    fail("E_DATASET_TOO_LARGE", `${source} makes ${nProbes} probes (each word with each template that applies, once per target pair), more than the ${MAX_PROBES} measured in bounded memory; split it into smaller datasets.`);
  }
  const byText = new Map(words.map((w) => [w.word, w]));
  for (const template of templates) {
    const listed = new Set<string>();
    for (const name of template.baseline ?? []) {
      const word = byText.get(name);
      const at = `${source}: template "${template.id}" lists the baseline word "${name}"`;
      if (word === undefined) fail("E_DATASET_UNKNOWN_BASELINE_WORD", `${at}, which is not a word of the dataset (baseline words match exactly).`);
      if (word.label !== "neutral") fail("E_DATASET_INVALID_BASELINE", `${at}, which is ${word.label}; a baseline word must be neutral.`);
      if (!appliesTo(template, word.category)) fail("E_DATASET_INVALID_BASELINE", `${at}, whose category "${word.category}" the template does not apply to.`);
      if (listed.has(name)) fail("E_DATASET_INVALID_BASELINE", `${at} twice.`);
      listed.add(name);
    }
  }

  const dataset: BiasDataset = { name: string(obj, "name", where), targets, templates, words };
  if (obj.version !== undefined) dataset.version = version;
  const description = optionalString(obj, "description", where);
  if (description !== undefined) dataset.description = description;
  const splitRule = optionalString(obj, "splitRule", where);
  if (splitRule !== undefined) dataset.splitRule = splitRule;
  if (obj.neutralText !== undefined) dataset.neutralText = validateNeutralText(obj.neutralText, where);
  return dataset;
}

function appliesTo(template: Template, category: string): boolean {
  return template.categories === undefined || template.categories.includes(category);
}

/**
 * Expands a dataset into its probes, in a stable order: words in file order, then the templates that
 * apply to the word's category in file order, then each template's target pairs in listed order. A
 * probe is held out when its word or its template is; a neutral probe is a baseline probe when its
 * word is in the template's `baseline` list, or, with no list, always.
 */
export function probes(dataset: BiasDataset): Probe[] {
  const checked = validateDataset(dataset, "passed to probes()");
  const pairs = new Map(checked.targets.map((t) => [t.id, t]));
  const out: Probe[] = [];
  for (const word of checked.words) {
    for (const template of checked.templates) {
      if (!appliesTo(template, word.category)) continue;
      const prompt = template.text.replaceAll(WORD_PLACEHOLDER, word.word);
      const split: Split = word.split === "heldout" || template.split === "heldout" ? "heldout" : "selection";
      const baseline = word.label === "neutral" && (template.baseline === undefined || template.baseline.includes(word.word));
      for (const id of template.targets) {
        const pair = pairs.get(id) as TargetPair;
        const probe: Probe = { word: word.word, category: word.category, label: word.label, split, template: template.id, target: id, prompt, female: [...pair.female], male: [...pair.male], baseline };
        if (word.gold !== undefined) probe.gold = word.gold;
        if (word.direction !== undefined) probe.direction = word.direction;
        out.push(probe);
      }
    }
  }
  return out;
}
