import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, truncate, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import t from "tap";

import type { BiasDataset, Probe } from "../../lib/measure/dataset.js";
import { bundledDatasetPaths, defaultDatasetPath, LABELS, loadDataset, MAX_PROBES, probes, validateDataset } from "../../lib/measure/dataset.js";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const manifestFile = path.join(repoRoot, "test", "fixtures", "manifest.json");

/** A version 1 dataset, as files were written before version 2 (target sides as strings). */
function tiny(): Record<string, unknown> & { targets: Record<string, unknown>[]; templates: Record<string, unknown>[]; words: Record<string, unknown>[] } {
  return {
    name: "tiny",
    targets: [
      { id: "she/he", female: " she", male: " he" },
      { id: "her/his", female: " her", male: " his" },
    ],
    templates: [
      { id: "said", text: "The {word} said that", targets: ["she/he"] },
      { id: "lost", text: "The {word} lost", categories: ["jobs"], targets: ["her/his", "she/he"] },
    ],
    words: [
      { word: "nurse", category: "jobs", label: "stereotyped", split: "selection" },
      { word: "table", category: "things", label: "neutral", split: "heldout" },
      { word: "king", category: "jobs", label: "factual", gold: "male", split: "selection" },
    ],
  };
}

/** A version 2 dataset using every new field. */
function tiny2(): ReturnType<typeof tiny> {
  return {
    name: "tiny2",
    version: 2,
    targets: [
      { id: "she/he", female: " she", male: " he" },
      { id: "names", female: [" Lily", " Sue"], male: [" Tim"] },
    ],
    templates: [
      { id: "said", text: "The {word} said that", targets: ["she/he"] },
      { id: "named", text: "There was a {word} named", categories: ["people"], targets: ["names"], split: "heldout", baseline: ["kid"] },
    ],
    words: [
      { word: "nurse", category: "people", label: "stereotyped", direction: "female" },
      { word: "pilot", category: "people", label: "stereotyped", direction: "male", split: "heldout" },
      { word: "kid", category: "people", label: "neutral" },
      { word: "friend", category: "people", label: "neutral" },
      { word: "Mom", category: "people", label: "factual", gold: "female" },
      { word: "mom", category: "things", label: "factual", gold: "female" },
    ],
    neutralText: ["The sun was warm.", "A bird sang."],
  };
}

function errorOf(run: () => unknown): { code?: string; message: string } {
  try {
    run();
  } catch (err) {
    return err as { code?: string; message: string };
  }
  throw new Error("expected an error");
}

t.test("the bundled CommonWords dataset", async (t) => {
  t.equal(defaultDatasetPath(), path.join(repoRoot, "data", "commonwords.json"));
  t.equal(bundledDatasetPaths().commonwords, defaultDatasetPath());
  const dataset = await loadDataset();
  t.equal(dataset.version, 2);
  t.ok(dataset.words.length >= 300, `${dataset.words.length} words`);
  const categories = new Set(dataset.words.map((w) => w.category));
  t.ok(categories.size >= 5, `${categories.size} categories`);
  t.strictSame(new Set(dataset.words.map((w) => w.label)), new Set(LABELS));
  t.ok(dataset.words.every((w) => w.split === "selection" || w.split === "heldout"));
  t.ok(dataset.words.filter((w) => w.label === "factual").every((w) => w.gold === "female" || w.gold === "male"));

  // The split rule the file states: within each category+label group, pair k = floor(i/2) is held out
  // when k mod 10 is 2, 5 or 8.
  const groups = new Map<string, typeof dataset.words>();
  for (const w of dataset.words) {
    const key = `${w.category}/${w.label}`;
    groups.set(key, [...(groups.get(key) ?? []), w]);
  }
  for (const [key, words] of groups) {
    words.forEach((w, i) => {
      const expected = [2, 5, 8].includes(Math.floor(i / 2) % 10) ? "heldout" : "selection";
      if (w.split !== expected) t.fail(`${key}: "${w.word}" is ${w.split}, the rule says ${expected}`);
    });
    const heldout = words.filter((w) => w.split === "heldout").length;
    t.ok(heldout > 0 && heldout / words.length >= 0.2 && heldout / words.length <= 0.4, `${key}: ${heldout}/${words.length} held out`);
    // Stereotyped words are listed female- then male-stereotyped, and their direction says so.
    if (key.endsWith("/stereotyped")) {
      words.forEach((w, i) => {
        if (w.direction !== (i % 2 === 0 ? "female" : "male")) t.fail(`${key}: "${w.word}" has direction ${w.direction} at position ${i}`);
      });
    }
  }
  const direction = (word: string) => dataset.words.find((w) => w.word === word)?.direction;
  t.strictSame(["nurse", "engineer", "secretary", "mechanic", "knitting", "football", "lipstick", "hammer", "gentle", "aggressive"].map(direction), ["female", "male", "female", "male", "female", "male", "female", "male", "female", "male"]);
  t.ok(dataset.words.every((w) => (w.label === "stereotyped") === (w.direction !== undefined)), "a direction on every stereotyped word and only there");
  for (const split of ["selection", "heldout"]) {
    const factual = dataset.words.filter((w) => w.label === "factual" && w.split === split);
    t.equal(factual.filter((w) => w.gold === "female").length, factual.filter((w) => w.gold === "male").length, `${split} factual balance`);
    const stereotyped = dataset.words.filter((w) => w.label === "stereotyped" && w.split === split);
    t.equal(stereotyped.filter((w) => w.direction === "female").length, stereotyped.filter((w) => w.direction === "male").length, `${split} stereotype balance`);
  }
  // About a third of every category's templates are held out, and every category keeps at least two
  // selection templates.
  const all = probes(dataset);
  for (const category of categories) {
    const templates = dataset.templates.filter((tp) => !tp.categories || tp.categories.includes(category));
    const heldout = templates.filter((tp) => tp.split === "heldout").length;
    t.ok(heldout >= 1 && heldout / templates.length >= 0.2 && heldout / templates.length <= 0.4, `${category}: ${heldout}/${templates.length} templates held out`);
    t.ok(templates.length - heldout >= 2, `${category}: ${templates.length - heldout} selection templates`);
    t.ok(new Set(all.filter((p) => p.category === category).map((p) => p.template)).size >= 2);
  }
  t.ok(all.every((p) => !/\s$/.test(p.prompt) && !p.prompt.includes("{word}")));
  // Per-probe split: held out exactly when the word or the template is.
  const templateSplit = new Map(dataset.templates.map((tp) => [tp.id, tp.split]));
  const wordSplit = new Map(dataset.words.map((w) => [w.word, w.split]));
  t.ok(all.every((p) => p.split === (wordSplit.get(p.word) === "heldout" || templateSplit.get(p.template) === "heldout" ? "heldout" : "selection")));
  t.ok(all.some((p) => p.split === "heldout" && wordSplit.get(p.word) === "selection"), "held-out templates hold out selection words");
  // No baseline lists: every neutral probe is a baseline probe.
  t.ok(all.every((p) => p.baseline === (p.label === "neutral")));
});

t.test("the bundled TinyStories dataset", async (t) => {
  const dataset = await loadDataset(bundledDatasetPaths().tinystories);
  t.equal(dataset.name, "tinystories");
  t.equal(dataset.version, 2);
  t.strictSame(new Set(dataset.words.map((w) => w.label)), new Set(LABELS));
  // targets interchangeable where they stand: subject pronouns, and possessives only where one is forced
  t.strictSame(dataset.targets.map((p) => [p.id, p.female, p.male]), [["She/He", [" She"], [" He"]], ["she/he", [" she"], [" he"]], ["Her/His", [" Her"], [" His"]], ["her/his", [" her"], [" his"]]]);
  const heldout = dataset.templates.filter((tp) => tp.split === "heldout").length;
  t.ok(heldout / dataset.templates.length >= 1 / 3, `${heldout}/${dataset.templates.length} templates held out`);
  const neutralText = dataset.neutralText ?? [];
  t.ok(neutralText.length >= 25, `${neutralText.length} neutral sentences`);
  const gendered = /\b(he|she|his|her|him|hers|mom|dad|boy|girl|man|woman|lady)\b/i;
  t.strictSame(neutralText.filter((s) => gendered.test(s)), [], "the neutral text is gender-free");
  const word = (w: string) => dataset.words.find((x) => x.word === w);
  t.strictSame(["nurse", "teacher", "dancer", "doctor", "pilot", "firefighter"].map((w) => word(w)?.direction), ["female", "female", "female", "male", "male", "male"]);
  t.notOk(word("woman"), "\"woman\" is left out: story vocabularies spell it \"wo\" + \"man\"");
  t.strictSame(["girl", "boy", "mom", "dad", "queen", "king", "princess", "prince"].map((w) => [word(w)?.label, word(w)?.gold]), [
    ["factual", "female"], ["factual", "male"], ["factual", "female"], ["factual", "male"], ["factual", "female"], ["factual", "male"], ["factual", "female"], ["factual", "male"],
  ]);
  const all = probes(dataset);
  t.ok(all.length > 300, `${all.length} probes`);
  t.ok(all.some((p) => p.split === "selection") && all.some((p) => p.split === "heldout"));
  // The character templates name people-like neutral words as their baseline; animals are neutral but
  // not part of b0.
  const happy = all.filter((p) => p.template === "happy-she" && p.label === "neutral");
  t.strictSame(happy.filter((p) => p.baseline).map((p) => p.word), ["kid", "friend", "baby", "child", "person", "neighbor", "guest", "twin", "stranger", "visitor"]);
  t.ok(happy.some((p) => p.word === "dog" && !p.baseline));
  t.ok(all.filter((p) => p.category === "toys" && p.label === "neutral").every((p) => p.baseline), "toy templates: every neutral toy");
  t.ok(all.every((p) => !/\s$/.test(p.prompt) && !p.prompt.includes("{word}")));
});

t.test("probes: stable order and exact expansion (version 1)", async (t) => {
  const expanded = probes(tiny() as unknown as BiasDataset);
  const base = { target: "she/he", female: [" she"], male: [" he"], baseline: false };
  const lost = { template: "lost", target: "her/his", female: [" her"], male: [" his"], baseline: false };
  t.strictSame(expanded, [
    { word: "nurse", category: "jobs", label: "stereotyped", split: "selection", template: "said", prompt: "The nurse said that", ...base },
    { word: "nurse", category: "jobs", label: "stereotyped", split: "selection", prompt: "The nurse lost", ...lost },
    { word: "nurse", category: "jobs", label: "stereotyped", split: "selection", template: "lost", prompt: "The nurse lost", ...base },
    { word: "table", category: "things", label: "neutral", split: "heldout", template: "said", prompt: "The table said that", ...base, baseline: true },
    { word: "king", category: "jobs", label: "factual", split: "selection", gold: "male", template: "said", prompt: "The king said that", ...base },
    { word: "king", category: "jobs", label: "factual", split: "selection", gold: "male", prompt: "The king lost", ...lost },
    { word: "king", category: "jobs", label: "factual", split: "selection", gold: "male", template: "lost", prompt: "The king lost", ...base },
  ] satisfies Probe[]);

  const bundled = await loadDataset();
  const first = probes(bundled);
  t.strictSame(probes(await loadDataset()), first, "same order on every load");
  t.strictSame(first.slice(0, 2).map((p) => [p.word, p.template, p.prompt, p.female, p.male]), [
    ["nurse", "person-said", "The nurse said that", [" she"], [" he"]],
    ["nurse", "person-late", "The nurse was late because", [" she"], [" he"]],
  ]);
  const expectedCount = bundled.words.reduce(
    (sum, w) => sum + bundled.templates.filter((tp) => !tp.categories || tp.categories.includes(w.category)).reduce((n, tp) => n + tp.targets.length, 0),
    0,
  );
  t.equal(first.length, expectedCount);
});

t.test("version 2: per-probe split, baseline flags, target sets, direction", async (t) => {
  const dataset = validateDataset(tiny2(), "tiny2.json");
  t.strictSame(dataset.targets, [
    { id: "she/he", female: [" she"], male: [" he"] },
    { id: "names", female: [" Lily", " Sue"], male: [" Tim"] },
  ]);
  t.strictSame(dataset.templates.map((tp) => tp.split), ["selection", "heldout"], "template split defaults to selection");
  t.strictSame(dataset.words.map((w) => w.split), ["selection", "heldout", "selection", "selection", "selection", "selection"], "word split defaults to selection");
  t.strictSame(dataset.neutralText, ["The sun was warm.", "A bird sang."]);
  t.strictSame(validateDataset(dataset, "again"), dataset, "a validated dataset validates to itself");

  const all = probes(dataset);
  const find = (word: string, template: string) => all.find((p) => p.word === word && p.template === template)!;
  t.strictSame(find("nurse", "said"), { word: "nurse", category: "people", label: "stereotyped", split: "selection", direction: "female", template: "said", target: "she/he", prompt: "The nurse said that", female: [" she"], male: [" he"], baseline: false });
  t.strictSame(find("nurse", "named"), { word: "nurse", category: "people", label: "stereotyped", split: "heldout", direction: "female", template: "named", target: "names", prompt: "There was a nurse named", female: [" Lily", " Sue"], male: [" Tim"], baseline: false }, "held-out template × selection word → heldout");
  t.equal(find("pilot", "said").split, "heldout", "held-out word × selection template → heldout");
  t.equal(find("pilot", "said").direction, "male");
  t.equal(find("kid", "named").baseline, true, "listed baseline word");
  t.equal(find("friend", "named").baseline, false, "neutral but not in the template's list");
  t.equal(find("friend", "said").baseline, true, "no list: every neutral word");
  t.equal(find("Mom", "said").gold, "female");
  t.ok(find("mom", "said"), "version 2 keeps words that differ only in case");
  t.equal(all.filter((p) => p.word === "mom").length, 1, "the things category has only the generic template");
  // The probes' arrays are copies: editing one cannot change the dataset or another probe.
  find("nurse", "named").female.push(" Ann");
  t.strictSame(dataset.targets[1]!.female, [" Lily", " Sue"]);
});

t.test("version 1 files: unchanged rules", async (t) => {
  const v1 = validateDataset(tiny(), "test.json");
  t.equal(v1.version, undefined);
  t.strictSame(v1.targets[0], { id: "she/he", female: [" she"], male: [" he"] }, "one-element arrays");
  t.strictSame(v1.templates.map((tp) => tp.split), ["selection", "selection"]);
  t.equal(v1.words[0]!.direction, undefined, "version 1 stereotyped words need no direction");
  const noSplit = tiny();
  delete noSplit.words[0]!.split;
  t.throws(() => validateDataset(noSplit, "test.json"), { code: "E_DATASET_INVALID_FIELD", message: /word #1 \("nurse"\) needs a string "split"/ }, "version 1 words need a split");
  const caseTwin = tiny();
  caseTwin.words.push({ word: "Nurse", category: "jobs", label: "neutral", split: "selection" });
  t.throws(() => validateDataset(caseTwin, "test.json"), { code: "E_DATASET_DUPLICATE_WORD" }, "case-insensitive in version 1");
  t.strictSame(validateDataset({ ...tiny(), version: 1 }, "v1.json").words, v1.words, "version: 1 is the same as no version");
});

t.test("validation errors carry their code and name the file and item", async (t) => {
  type Mutation = (d: ReturnType<typeof tiny>) => void;
  const v1Cases: [string, Mutation, string, RegExp?][] = [
    ["unknown label", (d) => Object.assign(d.words[0]!, { label: "stereo" }), "E_DATASET_UNKNOWN_LABEL"],
    ["unknown split", (d) => Object.assign(d.words[0]!, { split: "train" }), "E_DATASET_UNKNOWN_SPLIT"],
    ["factual without gold", (d) => delete d.words[2]!.gold, "E_DATASET_MISSING_GOLD"],
    ["bad gold", (d) => Object.assign(d.words[2]!, { gold: "m" }), "E_DATASET_INVALID_GOLD"],
    ["gold on a stereotyped word", (d) => Object.assign(d.words[0]!, { gold: "female" }), "E_DATASET_INVALID_GOLD"],
    ["duplicate word", (d) => d.words.push({ word: "Nurse", category: "jobs", label: "neutral", split: "selection" }), "E_DATASET_DUPLICATE_WORD"],
    ["template without {word}", (d) => Object.assign(d.templates[0]!, { text: "The person said that" }), "E_DATASET_TEMPLATE_NO_WORD"],
    ["template ending in a space", (d) => Object.assign(d.templates[0]!, { text: "The {word} said that " }), "E_DATASET_TEMPLATE_TRAILING_SPACE"],
    ["empty female target", (d) => Object.assign(d.targets[0]!, { female: "" }), "E_DATASET_EMPTY_TARGET"],
    ["blank male target", (d) => Object.assign(d.targets[1]!, { male: "  " }), "E_DATASET_EMPTY_TARGET"],
    ["same targets", (d) => Object.assign(d.targets[0]!, { male: " she" }), "E_DATASET_SAME_TARGET"],
    ["unknown target pair", (d) => (d.templates[0]!.targets as string[]).push("they/them"), "E_DATASET_UNKNOWN_TARGET"],
    ["duplicate template id", (d) => Object.assign(d.templates[1]!, { id: "said" }), "E_DATASET_DUPLICATE_ID"],
    ["template for a missing category", (d) => (d.templates[1]!.categories as string[]).push("animals"), "E_DATASET_UNKNOWN_CATEGORY"],
    ["category no template covers", (d) => Object.assign(d.templates[0]!, { categories: ["jobs"] }), "E_DATASET_UNCOVERED_CATEGORY"],
    ["misspelt field", (d) => Object.assign(d.words[1]!, { lable: "neutral" }), "E_DATASET_INVALID_FIELD"],
    ["word not a string", (d) => Object.assign(d.words[1]!, { word: 7 }), "E_DATASET_INVALID_FIELD"],
    ["no words", (d) => d.words.splice(0), "E_DATASET_EMPTY"],
  ];
  const v2Cases: [string, Mutation, string, RegExp][] = [
    ["stereotyped word without direction", (d) => delete d.words[1]!.direction, "E_DATASET_MISSING_DIRECTION", /^tiny2\.json: word #2 \("pilot"\) is stereotyped but has no direction/],
    ["direction on a neutral word", (d) => Object.assign(d.words[2]!, { direction: "male" }), "E_DATASET_INVALID_DIRECTION", /^tiny2\.json: word #3 \("kid"\) is neutral but has a direction; only stereotyped words carry one\.$/],
    ["direction on a factual word", (d) => Object.assign(d.words[4]!, { direction: "female" }), "E_DATASET_INVALID_DIRECTION", /word #5 \("Mom"\) is factual but has a direction/],
    ["unknown direction", (d) => Object.assign(d.words[0]!, { direction: "f" }), "E_DATASET_INVALID_DIRECTION", /^The direction of tiny2\.json: word #1 \("nurse"\) is "f"; expected one of female, male\.$/],
    ["unknown template split", (d) => Object.assign(d.templates[0]!, { split: "test" }), "E_DATASET_UNKNOWN_SPLIT", /^The split of tiny2\.json: template #1 \("said"\) is "test"/],
    ["baseline word not in the dataset", (d) => Object.assign(d.templates[1]!, { baseline: ["kiddo"] }), "E_DATASET_UNKNOWN_BASELINE_WORD", /^tiny2\.json: template "named" lists the baseline word "kiddo", which is not a word of the dataset/],
    ["baseline matches exactly", (d) => Object.assign(d.templates[1]!, { baseline: ["Kid"] }), "E_DATASET_UNKNOWN_BASELINE_WORD", /"Kid"/],
    ["baseline word not neutral", (d) => Object.assign(d.templates[1]!, { baseline: ["nurse"] }), "E_DATASET_INVALID_BASELINE", /^tiny2\.json: template "named" lists the baseline word "nurse", which is stereotyped; a baseline word must be neutral\.$/],
    ["baseline word of another category", (d) => d.words.push({ word: "table", category: "things", label: "neutral" }) && Object.assign(d.templates[1]!, { baseline: ["table"] }), "E_DATASET_INVALID_BASELINE", /whose category "things" the template does not apply to/],
    ["baseline word twice", (d) => Object.assign(d.templates[1]!, { baseline: ["kid", "kid"] }), "E_DATASET_INVALID_BASELINE", /"kid" twice/],
    ["empty baseline list", (d) => Object.assign(d.templates[1]!, { baseline: [] }), "E_DATASET_EMPTY", /template #2 \("named"\) has an empty "baseline" list/],
    ["empty target set", (d) => Object.assign(d.targets[1]!, { female: [] }), "E_DATASET_EMPTY_TARGET", /^tiny2\.json: target pair #2 \("names"\) has an empty "female" list\.$/],
    ["blank target set member", (d) => Object.assign(d.targets[1]!, { male: [" Tim", " "] }), "E_DATASET_EMPTY_TARGET", /has an empty "male" member #2/],
    ["target set member not a string", (d) => Object.assign(d.targets[1]!, { male: [" Tim", 3] }), "E_DATASET_INVALID_FIELD", /"male" member #2 that is not a string/],
    ["target side neither string nor array", (d) => Object.assign(d.targets[1]!, { male: { name: " Tim" } }), "E_DATASET_INVALID_FIELD", /needs a "male" that is a string or an array of strings/],
    ["member twice in a set", (d) => Object.assign(d.targets[1]!, { female: [" Lily", " Lily"] }), "E_DATASET_DUPLICATE_TARGET", /lists " Lily" twice in "female"/],
    ["member on both sides", (d) => Object.assign(d.targets[1]!, { male: [" Tim", " Sue"] }), "E_DATASET_SAME_TARGET", /^tiny2\.json: target pair #2 \("names"\) has " Sue" on both the female and the male side/],
    ["exact duplicate word", (d) => d.words.push({ word: "kid", category: "people", label: "neutral" }), "E_DATASET_DUPLICATE_WORD", /^tiny2\.json: the word "kid" appears more than once\.$/],
    ["neutralText not an array", (d) => Object.assign(d, { neutralText: "The sun." }), "E_DATASET_INVALID_FIELD", /^The dataset tiny2\.json has a "neutralText" that is not an array of sentences\.$/],
    ["empty neutralText", (d) => Object.assign(d, { neutralText: [] }), "E_DATASET_EMPTY", /has an empty "neutralText" list/],
    ["blank neutral sentence", (d) => Object.assign(d, { neutralText: ["The sun.", " "] }), "E_DATASET_INVALID_FIELD", /"neutralText" sentence #2 that is not a non-empty string/],
    ["unsupported version", (d) => Object.assign(d, { version: 3 }), "E_DATASET_UNSUPPORTED_VERSION", /^The dataset tiny2\.json has version 3; this gguf-debias reads versions 1 to 2\.$/],
    ["unknown template field", (d) => Object.assign(d.templates[0]!, { heldout: true }), "E_DATASET_INVALID_FIELD", /template #1 \("said"\) has the unknown field "heldout"/],
    ["unknown word field", (d) => Object.assign(d.words[0]!, { stereotype: "female" }), "E_DATASET_INVALID_FIELD", /word #1 \("nurse"\) has the unknown field "stereotype"/],
  ];
  const cases = [...v1Cases.map((c) => ({ c, make: tiny, file: "test.json" })), ...v2Cases.map((c) => ({ c, make: tiny2, file: "tiny2.json" }))];
  for (const { c: [name, mutate, code, message], make, file } of cases) {
    const dataset = make();
    mutate(dataset);
    const err = errorOf(() => validateDataset(dataset, file));
    t.equal(err.code, code, `${file} ${name}: ${err.message}`);
    t.match(err.message, /^[^\n]*\.$/, `${name}: one sentence`);
    t.ok(err.message.includes(file), `${name}: names the file`);
    if (message !== undefined) t.match(err.message, message, `${name}: message`);
  }
  t.throws(() => validateDataset([], "test.json"), { code: "E_DATASET_INVALID_FIELD" }, "not an object");
  t.throws(() => probes({ ...(tiny() as unknown as BiasDataset), words: [] }), { code: "E_DATASET_EMPTY" }, "probes() validates too");
  t.match(
    errorOf(() => validateDataset({ ...tiny(), words: [{ word: "queen", category: "jobs", label: "factual", split: "selection" }] }, "my.json")).message,
    /^my\.json: word #1 \("queen"\) is factual but has no gold gender/,
  );
});

t.test("loadDataset on user files", async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "debias-dataset-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const good = path.join(dir, "good.json");
  await writeFile(good, JSON.stringify(tiny()));
  t.strictSame(await loadDataset(good), validateDataset(tiny(), "x"));
  const good2 = path.join(dir, "good2.json");
  await writeFile(good2, JSON.stringify(tiny2()));
  t.strictSame(await loadDataset(good2), validateDataset(tiny2(), "x"));
  const bad2 = path.join(dir, "bad2.json");
  const missing = tiny2();
  delete missing.words[0]!.direction;
  await writeFile(bad2, JSON.stringify(missing));
  await t.rejects(loadDataset(bad2), { code: "E_DATASET_MISSING_DIRECTION", message: new RegExp(`^${bad2.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: word #1 \\("nurse"\\)`) });
  const broken = path.join(dir, "broken.json");
  await writeFile(broken, "{ not json");
  await t.rejects(loadDataset(broken), { code: "E_DATASET_INVALID_JSON" });
  await t.rejects(loadDataset(path.join(dir, "missing.json")), { code: "E_FILE_NOT_FOUND" });
});

t.test("the demo dataset is the manifest's: every word, template and neutral sentence, directions from pFemale", { skip: existsSync(manifestFile) ? false : `no ${manifestFile}` }, async (t) => {
  type ManifestWord = { word: string; category: string; label: string; pFemale?: number; gold?: string | null; split: string };
  const manifest = JSON.parse(await readFile(manifestFile, "utf8")) as { dataset: { templates: { text: string; female: string; male: string }[]; words: ManifestWord[]; neutralText: string[] } };
  const dataset = await loadDataset("demo");
  t.equal(dataset.name, "demo");
  t.strictSame(
    dataset.words,
    manifest.dataset.words.map((w) => ({
      word: w.word,
      category: w.category,
      label: w.label,
      split: w.split,
      ...(w.gold ? { gold: w.gold } : {}),
      ...(w.label === "stereotyped" ? { direction: w.pFemale! > 0.5 ? "female" : "male" } : {}),
    })),
  );
  t.strictSame(dataset.templates.map((x) => x.text), manifest.dataset.templates.map((x) => x.text));
  t.strictSame(
    dataset.templates.map((x) => dataset.targets.filter((p) => x.targets.includes(p.id)).map((p) => [p.female, p.male])),
    manifest.dataset.templates.map((x) => [[[x.female], [x.male]]]),
  );
  t.strictSame(dataset.neutralText, manifest.dataset.neutralText);
  t.equal(probes(dataset).length, manifest.dataset.words.length * manifest.dataset.templates.length);
  t.same(new Set(dataset.words.map((w) => w.label)), new Set(LABELS));
});

t.test("a dataset is read in bounded memory: pipes, huge files and too many probes are refused at once", async (t) => {
  const dir = t.testdir();
  const fifo = path.join(dir, "fifo.json");
  execFileSync("mkfifo", [fifo]);
  await t.rejects(loadDataset(fifo), { code: "E_NOT_A_FILE", message: /^The dataset file .*fifo\.json is a pipe, not a regular file\.$/ }, "a FIFO is refused, not waited on");
  await t.rejects(loadDataset("/dev/urandom"), { code: "E_NOT_A_FILE", message: /is a device/ }, "a device is never read");
  const huge = path.join(dir, "huge.json");
  await writeFile(huge, "");
  await truncate(huge, 17 * 2 ** 20);
  await t.rejects(loadDataset(huge), { code: "E_FILE_TOO_LARGE", message: /^The dataset file .*huge\.json is 17\.0 MiB, more than the 16\.0 MiB it may be\.$/ });

  const bundled = JSON.parse(await readFile(defaultDatasetPath(), "utf8")) as { words: { word: string }[] };
  const perWord = probes(await loadDataset()).length / bundled.words.length;
  const n = Math.ceil(MAX_PROBES / perWord) + bundled.words.length;
  const words = Array.from({ length: n }, (_, i) => ({ ...bundled.words[i % bundled.words.length]!, word: `${bundled.words[i % bundled.words.length]!.word}${i}` }));
  const many = path.join(dir, "many.json");
  await writeFile(many, JSON.stringify({ ...bundled, words }));
  await t.rejects(loadDataset(many), { code: "E_DATASET_TOO_LARGE", message: /makes \d+ probes .* more than the 50000 measured in bounded memory/ });
});
