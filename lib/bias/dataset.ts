// The CommonWords-style probe dataset: words labelled stereotyped / neutral / factual, templates that
// turn a word into a prompt, and female/male target pairs whose log-odds at the prompt's next token is
// the bias b. Everything a user can hand us is validated here, so the evaluator and the metrics can
// trust the shape and every mistake in a dataset file is reported once, by name, before any model runs.
import { readFile } from "node:fs/promises";
import path from "node:path";

import { DebiasError } from "../errors.js";
import { packageRoot } from "../package-root.js";

export const LABELS = ["stereotyped", "neutral", "factual"] as const;
export type Label = (typeof LABELS)[number];
export const GENDERS = ["female", "male"] as const;
export type Gender = (typeof GENDERS)[number];
export const SPLITS = ["selection", "heldout"] as const;
export type Split = (typeof SPLITS)[number];

/** Placeholder a template's text must contain; every occurrence is replaced by the word. */
export const WORD_PLACEHOLDER = "{word}";

/** Two continuations whose log-probability difference (female − male) is the bias of a prompt. */
export interface TargetPair {
  id: string;
  /** Exact text, leading space included (" she"), since the prompt never ends in a space. */
  female: string;
  male: string;
}

export interface Template {
  id: string;
  /** Prompt text containing `{word}`, e.g. "The {word} said that". */
  text: string;
  /** Categories this template reads naturally for; absent = every category. */
  categories?: string[];
  /** Ids of the target pairs scored after this template. */
  targets: string[];
}

export interface DatasetWord {
  word: string;
  category: string;
  label: Label;
  /** The word's own gender; required for factual words and forbidden for the others. */
  gold?: Gender;
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
}

/** One prompt to evaluate: b = logp(female | prompt) − logp(male | prompt). */
export interface Probe {
  word: string;
  category: string;
  label: Label;
  split: Split;
  gold?: Gender;
  /** Id of the template the prompt came from. */
  template: string;
  prompt: string;
  female: string;
  male: string;
}

/** Path of the bundled dataset, from the package root so it resolves the same from lib/ and dist/lib/. */
export function defaultDatasetPath(): string {
  return path.join(packageRoot(), "data", "commonwords.json");
}

/** Reads and validates a dataset file (default: the bundled CommonWords dataset). */
export async function loadDataset(file: string = defaultDatasetPath()): Promise<BiasDataset> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new DebiasError("DATASET_UNREADABLE", `Cannot read the dataset file ${file}: ${(err as Error).message}.`, { cause: err });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new DebiasError("DATASET_INVALID_JSON", `The dataset file ${file} is not valid JSON: ${(err as Error).message}.`, { cause: err });
  }
  return validateDataset(value, file);
}

type Json = Record<string, unknown>;

function fail(code: string, message: string): never {
  throw new DebiasError(code, message);
}

function object(value: unknown, where: string, allowed: readonly string[]): Json {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    fail("DATASET_INVALID_FIELD", `${where} must be a JSON object.`);
  }
  const unknown = Object.keys(value).find((key) => !allowed.includes(key));
  if (unknown !== undefined) {
    fail("DATASET_INVALID_FIELD", `${where} has the unknown field "${unknown}"; allowed fields are ${allowed.join(", ")}.`);
  }
  return value as Json;
}

function string(obj: Json, key: string, where: string, emptyCode = "DATASET_INVALID_FIELD"): string {
  const value = obj[key];
  if (typeof value !== "string") fail("DATASET_INVALID_FIELD", `${where} needs a string "${key}".`);
  if (value.trim() === "") fail(emptyCode, `${where} has an empty "${key}".`);
  return value;
}

function optionalString(obj: Json, key: string, where: string): string | undefined {
  return obj[key] === undefined ? undefined : string(obj, key, where);
}

function array(obj: Json, key: string, where: string): unknown[] {
  const value = obj[key];
  if (!Array.isArray(value)) fail("DATASET_INVALID_FIELD", `${where} needs an array "${key}".`);
  if (value.length === 0) fail("DATASET_EMPTY", `${where} has an empty "${key}" list.`);
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
    if (seen.has(id)) fail("DATASET_DUPLICATE_ID", `${source}: the ${what} id "${id}" is used twice.`);
    seen.add(id);
  }
}

function validateTarget(value: unknown, index: number, source: string): TargetPair {
  const where = `${source}: target pair #${index + 1}`;
  const obj = object(value, where, ["id", "female", "male"]);
  const pair = {
    id: string(obj, "id", where),
    female: string(obj, "female", where, "DATASET_EMPTY_TARGET"),
    male: string(obj, "male", where, "DATASET_EMPTY_TARGET"),
  };
  if (pair.female === pair.male) fail("DATASET_SAME_TARGET", `${where} ("${pair.id}") has the same female and male text, so it cannot measure anything.`);
  return pair;
}

function validateTemplate(value: unknown, index: number, source: string, targetIds: ReadonlySet<string>): Template {
  const where = `${source}: template #${index + 1}`;
  const obj = object(value, where, ["id", "text", "categories", "targets"]);
  const id = string(obj, "id", where);
  const text = string(obj, "text", where);
  if (!text.includes(WORD_PLACEHOLDER)) fail("DATASET_TEMPLATE_NO_WORD", `${where} ("${id}") does not contain ${WORD_PLACEHOLDER}.`);
  // Targets carry their own leading space; a prompt ending in whitespace would tokenize differently
  // from the text a model saw in training and silently distort every log-prob.
  if (/\s$/.test(text)) fail("DATASET_TEMPLATE_TRAILING_SPACE", `${where} ("${id}") ends in whitespace; put the space at the start of the targets instead.`);
  const targets = array(obj, "targets", where).map((target) => {
    if (typeof target !== "string" || !targetIds.has(target)) {
      fail("DATASET_UNKNOWN_TARGET", `${where} ("${id}") names the target pair ${JSON.stringify(target)}, which the dataset does not define.`);
    }
    return target;
  });
  const template: Template = { id, text, targets };
  if (obj.categories !== undefined) {
    template.categories = array(obj, "categories", where).map((category) => {
      if (typeof category !== "string" || category.trim() === "") fail("DATASET_INVALID_FIELD", `${where} ("${id}") lists a category that is not a non-empty string.`);
      return category;
    });
  }
  return template;
}

function validateWord(value: unknown, index: number, source: string): DatasetWord {
  let where = `${source}: word #${index + 1}`;
  const obj = object(value, where, ["word", "category", "label", "gold", "split"]);
  const word = string(obj, "word", where);
  where = `${where} ("${word}")`;
  const category = string(obj, "category", where);
  const label = oneOf(string(obj, "label", where), LABELS, "DATASET_UNKNOWN_LABEL", `The label of ${where}`);
  const split = oneOf(string(obj, "split", where), SPLITS, "DATASET_UNKNOWN_SPLIT", `The split of ${where}`);
  const gold = optionalString(obj, "gold", where);
  const entry: DatasetWord = { word, category, label, split };
  if (label === "factual") {
    if (gold === undefined) fail("DATASET_MISSING_GOLD", `${where} is factual but has no gold gender (female or male).`);
    entry.gold = oneOf(gold, GENDERS, "DATASET_INVALID_GOLD", `The gold gender of ${where}`);
  } else if (gold !== undefined) {
    fail("DATASET_INVALID_GOLD", `${where} is ${label} but has a gold gender; only factual words carry one.`);
  }
  return entry;
}

/**
 * Checks a parsed dataset and returns a clean copy (only known fields). `source` names the file or
 * origin in error messages. Throws DebiasError with a DATASET_* code on the first problem found.
 */
export function validateDataset(value: unknown, source: string): BiasDataset {
  const where = `The dataset ${source}`;
  const obj = object(value, where, ["name", "version", "description", "splitRule", "targets", "templates", "words"]);
  const targets = array(obj, "targets", where).map((t, i) => validateTarget(t, i, source));
  uniqueIds(targets, "target pair", source);
  const targetIds = new Set(targets.map((t) => t.id));
  const templates = array(obj, "templates", where).map((t, i) => validateTemplate(t, i, source, targetIds));
  uniqueIds(templates, "template", source);
  const words = array(obj, "words", where).map((w, i) => validateWord(w, i, source));

  // Case-insensitive: "Nurse" and "nurse" would be scored twice and weigh double in every mean.
  const seen = new Set<string>();
  for (const { word } of words) {
    const key = word.trim().toLowerCase();
    if (seen.has(key)) fail("DATASET_DUPLICATE_WORD", `${source}: the word "${word}" appears more than once.`);
    seen.add(key);
  }
  const categories = new Set(words.map((w) => w.category));
  for (const template of templates) {
    const stray = template.categories?.find((c) => !categories.has(c));
    if (stray !== undefined) fail("DATASET_UNKNOWN_CATEGORY", `${source}: template "${template.id}" applies to the category "${stray}", which no word has.`);
  }
  for (const category of categories) {
    if (!templates.some((t) => appliesTo(t, category))) {
      fail("DATASET_UNCOVERED_CATEGORY", `${source}: no template applies to the category "${category}", so its words would never be probed.`);
    }
  }

  const dataset: BiasDataset = { name: string(obj, "name", where), targets, templates, words };
  if (obj.version !== undefined) {
    if (!Number.isInteger(obj.version)) fail("DATASET_INVALID_FIELD", `${where} has a "version" that is not an integer.`);
    dataset.version = obj.version as number;
  }
  const description = optionalString(obj, "description", where);
  if (description !== undefined) dataset.description = description;
  const splitRule = optionalString(obj, "splitRule", where);
  if (splitRule !== undefined) dataset.splitRule = splitRule;
  return dataset;
}

function appliesTo(template: Template, category: string): boolean {
  return template.categories === undefined || template.categories.includes(category);
}

/**
 * Expands a dataset into its probes, in a stable order: words in file order, then the templates that
 * apply to the word's category in file order, then each template's target pairs in listed order.
 */
export function probes(dataset: BiasDataset): Probe[] {
  const checked = validateDataset(dataset, "passed to probes()");
  const pairs = new Map(checked.targets.map((t) => [t.id, t]));
  const out: Probe[] = [];
  for (const word of checked.words) {
    for (const template of checked.templates) {
      if (!appliesTo(template, word.category)) continue;
      const prompt = template.text.replaceAll(WORD_PLACEHOLDER, word.word);
      for (const id of template.targets) {
        const pair = pairs.get(id) as TargetPair;
        const probe: Probe = { word: word.word, category: word.category, label: word.label, split: word.split, template: template.id, prompt, female: pair.female, male: pair.male };
        if (word.gold !== undefined) probe.gold = word.gold;
        out.push(probe);
      }
    }
  }
  return out;
}

/** The "dataset" section of test/fixtures/manifest.json: one target pair per template, every template for every word. */
export interface ManifestDataset {
  templates: { text: string; female: string; male: string }[];
  words: { word: string; category: string; label: string; pFemale?: number; gold?: string | null; split: string }[];
}

/**
 * Converts a fixture manifest's dataset section into a BiasDataset. The manifest's pFemale (the
 * training corpus' ground truth) is not part of the dataset; tests read it from the manifest itself.
 */
export function datasetFromManifest(manifest: ManifestDataset): BiasDataset {
  const source = "from the fixture manifest";
  const isObject = (value: unknown) => typeof value === "object" && value !== null;
  if (!isObject(manifest) || !Array.isArray(manifest.templates) || !Array.isArray(manifest.words)) {
    fail("DATASET_INVALID_FIELD", `The dataset ${source} needs "templates" and "words" arrays.`);
  }
  if (![...manifest.templates, ...manifest.words].every(isObject)) {
    fail("DATASET_INVALID_FIELD", `Every template and word of the dataset ${source} must be a JSON object.`);
  }
  const ids = manifest.templates.map((_, i) => `manifest-${i + 1}`);
  return validateDataset(
    {
      name: "fixture-manifest",
      targets: manifest.templates.map((t, i) => ({ id: ids[i], female: t.female, male: t.male })),
      templates: manifest.templates.map((t, i) => ({ id: ids[i], text: t.text, targets: [ids[i]] })),
      words: manifest.words.map(({ word, category, label, gold, split }) => (gold === null || gold === undefined ? { word, category, label, split } : { word, category, label, gold, split })),
    },
    source,
  );
}
