import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import t from "tap";

import type { BiasDataset } from "../../lib/bias/dataset.js";
import type { ManifestDataset } from "../../lib/bias/dataset.js";
import { datasetFromManifest, defaultDatasetPath, LABELS, loadDataset, probes, validateDataset } from "../../lib/bias/dataset.js";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const manifestFile = path.join(repoRoot, "test", "fixtures", "manifest.json");

function tiny(): BiasDataset {
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

t.test("the bundled dataset", async (t) => {
  t.equal(defaultDatasetPath(), path.join(repoRoot, "data", "commonwords.json"));
  const dataset = await loadDataset();
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
  }
  // Factual words come in female/male pairs, so both splits keep both genders balanced.
  for (const split of ["selection", "heldout"]) {
    const factual = dataset.words.filter((w) => w.label === "factual" && w.split === split);
    t.equal(factual.filter((w) => w.gold === "female").length, factual.filter((w) => w.gold === "male").length, `${split} factual balance`);
  }
  // Every category has all its words probed by at least two templates.
  const all = probes(dataset);
  for (const category of categories) {
    const templates = new Set(all.filter((p) => p.category === category).map((p) => p.template));
    t.ok(templates.size >= 2, `${category}: ${templates.size} templates`);
  }
  t.ok(all.every((p) => !/\s$/.test(p.prompt) && !p.prompt.includes("{word}")));
});

t.test("probes: stable order and exact expansion", async (t) => {
  const expanded = probes(tiny());
  t.strictSame(expanded, [
    { word: "nurse", category: "jobs", label: "stereotyped", split: "selection", template: "said", prompt: "The nurse said that", female: " she", male: " he" },
    { word: "nurse", category: "jobs", label: "stereotyped", split: "selection", template: "lost", prompt: "The nurse lost", female: " her", male: " his" },
    { word: "nurse", category: "jobs", label: "stereotyped", split: "selection", template: "lost", prompt: "The nurse lost", female: " she", male: " he" },
    { word: "table", category: "things", label: "neutral", split: "heldout", template: "said", prompt: "The table said that", female: " she", male: " he" },
    { word: "king", category: "jobs", label: "factual", split: "selection", gold: "male", template: "said", prompt: "The king said that", female: " she", male: " he" },
    { word: "king", category: "jobs", label: "factual", split: "selection", gold: "male", template: "lost", prompt: "The king lost", female: " her", male: " his" },
    { word: "king", category: "jobs", label: "factual", split: "selection", gold: "male", template: "lost", prompt: "The king lost", female: " she", male: " he" },
  ]);

  const bundled = await loadDataset();
  const first = probes(bundled);
  t.strictSame(probes(await loadDataset()), first, "same order on every load");
  t.strictSame(first.slice(0, 2).map((p) => [p.word, p.template, p.prompt, p.female, p.male]), [
    ["nurse", "person-said", "The nurse said that", " she", " he"],
    ["nurse", "person-late", "The nurse was late because", " she", " he"],
  ]);
  const expectedCount = bundled.words.reduce(
    (sum, w) => sum + bundled.templates.filter((tp) => !tp.categories || tp.categories.includes(w.category)).reduce((n, tp) => n + tp.targets.length, 0),
    0,
  );
  t.equal(first.length, expectedCount);
});

t.test("validation errors carry their code", async (t) => {
  const cases: [string, (d: BiasDataset) => void, string][] = [
    ["unknown label", (d) => Object.assign(d.words[0], { label: "stereo" }), "DATASET_UNKNOWN_LABEL"],
    ["unknown split", (d) => Object.assign(d.words[0], { split: "train" }), "DATASET_UNKNOWN_SPLIT"],
    ["factual without gold", (d) => delete d.words[2].gold, "DATASET_MISSING_GOLD"],
    ["bad gold", (d) => Object.assign(d.words[2], { gold: "m" }), "DATASET_INVALID_GOLD"],
    ["gold on a stereotyped word", (d) => Object.assign(d.words[0], { gold: "female" }), "DATASET_INVALID_GOLD"],
    ["duplicate word", (d) => d.words.push({ word: "Nurse", category: "jobs", label: "neutral", split: "selection" }), "DATASET_DUPLICATE_WORD"],
    ["template without {word}", (d) => Object.assign(d.templates[0], { text: "The person said that" }), "DATASET_TEMPLATE_NO_WORD"],
    ["template ending in a space", (d) => Object.assign(d.templates[0], { text: "The {word} said that " }), "DATASET_TEMPLATE_TRAILING_SPACE"],
    ["empty female target", (d) => Object.assign(d.targets[0], { female: "" }), "DATASET_EMPTY_TARGET"],
    ["blank male target", (d) => Object.assign(d.targets[1], { male: "  " }), "DATASET_EMPTY_TARGET"],
    ["same targets", (d) => Object.assign(d.targets[0], { male: " she" }), "DATASET_SAME_TARGET"],
    ["unknown target pair", (d) => d.templates[0].targets.push("they/them"), "DATASET_UNKNOWN_TARGET"],
    ["duplicate template id", (d) => Object.assign(d.templates[1], { id: "said" }), "DATASET_DUPLICATE_ID"],
    ["template for a missing category", (d) => d.templates[1].categories?.push("animals"), "DATASET_UNKNOWN_CATEGORY"],
    ["category no template covers", (d) => Object.assign(d.templates[0], { categories: ["jobs"] }), "DATASET_UNCOVERED_CATEGORY"],
    ["misspelt field", (d) => Object.assign(d.words[1], { lable: "neutral" }), "DATASET_INVALID_FIELD"],
    ["word not a string", (d) => Object.assign(d.words[1], { word: 7 }), "DATASET_INVALID_FIELD"],
    ["no words", (d) => d.words.splice(0), "DATASET_EMPTY"],
  ];
  for (const [name, mutate, code] of cases) {
    const dataset = tiny();
    mutate(dataset);
    t.throws(() => validateDataset(dataset, "test.json"), { code }, name);
  }
  t.throws(() => validateDataset([], "test.json"), { code: "DATASET_INVALID_FIELD" }, "not an object");
  t.throws(() => probes({ ...tiny(), words: [] }), { code: "DATASET_EMPTY" }, "probes() validates too");
  t.match(
    (() => {
      try {
        validateDataset({ ...tiny(), words: [{ word: "queen", category: "jobs", label: "factual", split: "selection" }] }, "my.json");
      } catch (err) {
        return (err as Error).message;
      }
    })(),
    /^my\.json: word #1 \("queen"\) is factual but has no gold gender/,
  );
});

t.test("loadDataset on user files", async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "debias-dataset-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const good = path.join(dir, "good.json");
  await writeFile(good, JSON.stringify(tiny()));
  t.strictSame(await loadDataset(good), tiny());
  const broken = path.join(dir, "broken.json");
  await writeFile(broken, "{ not json");
  await t.rejects(loadDataset(broken), { code: "DATASET_INVALID_JSON" });
  await t.rejects(loadDataset(path.join(dir, "missing.json")), { code: "DATASET_UNREADABLE" });
});

t.test("datasetFromManifest", async (t) => {
  const dataset = datasetFromManifest({
    templates: [
      { text: "The {word} said that", female: " she", male: " he" },
      { text: "The {word} is a", female: " woman", male: " man" },
    ],
    words: [
      { word: "nurse", category: "occupation", label: "stereotyped", pFemale: 0.9, gold: null, split: "selection" },
      { word: "queen", category: "role", label: "factual", pFemale: 1, gold: "female", split: "heldout" },
    ],
  });
  t.strictSame(dataset.words, [
    { word: "nurse", category: "occupation", label: "stereotyped", split: "selection" },
    { word: "queen", category: "role", label: "factual", gold: "female", split: "heldout" },
  ]);
  t.strictSame(
    probes(dataset).map((p) => [p.word, p.prompt, p.female, p.male]),
    [
      ["nurse", "The nurse said that", " she", " he"],
      ["nurse", "The nurse is a", " woman", " man"],
      ["queen", "The queen said that", " she", " he"],
      ["queen", "The queen is a", " woman", " man"],
    ],
  );
  t.throws(
    () => datasetFromManifest({ templates: [{ text: "The {word} said", female: " she", male: " he" }], words: [{ word: "king", category: "role", label: "factual", gold: null, split: "selection" }] }),
    { code: "DATASET_MISSING_GOLD" },
  );
  t.throws(() => datasetFromManifest({} as never), { code: "DATASET_INVALID_FIELD" });
  t.throws(() => datasetFromManifest({ templates: [null], words: [] } as never), { code: "DATASET_INVALID_FIELD" });
});

t.test("the fixture manifest's dataset", { skip: existsSync(manifestFile) ? false : `no ${manifestFile}` }, async (t) => {
  const manifest = JSON.parse(await readFile(manifestFile, "utf8")) as { dataset: ManifestDataset };
  const dataset = datasetFromManifest(manifest.dataset);
  t.equal(dataset.words.length, manifest.dataset.words.length);
  t.equal(probes(dataset).length, manifest.dataset.words.length * manifest.dataset.templates.length);
  t.same(new Set(dataset.words.map((w) => w.label)), new Set(LABELS));
});
