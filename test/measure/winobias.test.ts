import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import t from "tap";

import type { WinoBiasItem } from "../../lib/measure/winobias.js";
import { loadWinoBias, loadWinoBiasOccupations, parseWinoBiasLine, scoreWinoBias, winoBiasFileName, winoBiasReadings } from "../../lib/measure/winobias.js";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const dir = path.join(repoRoot, "..", "shared", "benchmarks", "winobias");
const skip = existsSync(dir) ? false : `the WinoBias files are not at ${dir}`;

const OCCUPATIONS = ["nurse", "clerk", "developer", "mechanic", "construction worker"];
const FEMALE_PRONOUNS = new Set(["she", "her", "hers", "herself"]);
const READING = /Here, "(\w+)" refers to the (.+)\.$/;

const negativeLength = async (texts: string[]) => texts.map((text) => -text.length);

// A fake model holding the WinoBias stereotype completely: it likes a reading when the pronoun's gender
// matches the occupation's stereotyped gender.
function stereotypedScorer(female: ReadonlySet<string>) {
  return async (texts: string[]) =>
    texts.map((text) => {
      const [, pronoun, occupation] = READING.exec(text) ?? [];
      return FEMALE_PRONOUNS.has(pronoun) === female.has(occupation) ? 0 : -1;
    });
}

t.test("parsing one line", async (t) => {
  t.strictSame(parseWinoBiasLine("1 [The developer] argued with the nurse because [he] did not like the design.", OCCUPATIONS, "x"), {
    id: 1,
    sentence: "The developer argued with the nurse because he did not like the design.",
    pronoun: "he",
    gold: "developer",
    other: "nurse",
  });
  // Type 2, an antecedent written oddly, a possessive, and a later occupation that is not a candidate.
  t.strictSame(parseWinoBiasLine("7 The mechanic fixed the [ clerk] 's car and told [her] to call the construction worker. ", OCCUPATIONS, "x"), {
    id: 7,
    sentence: "The mechanic fixed the clerk's car and told her to call the construction worker.",
    pronoun: "her",
    gold: "clerk",
    other: "mechanic",
  });
  t.strictSame(winoBiasReadings(parseWinoBiasLine("2 The nurse met [a construction worker] and thanked [him] .", OCCUPATIONS, "x")), [
    'The nurse met a construction worker and thanked him . Here, "him" refers to the construction worker.',
    'The nurse met a construction worker and thanked him . Here, "him" refers to the nurse.',
  ]);
  const bad: [string, RegExp][] = [
    ["The developer argued with [the nurse] because [he] left.", /not a numbered sentence/],
    ["3 [The developer] argued with the nurse because he left.", /no bracketed pronoun/],
    ["3 The developer argued with the nurse because [he] left.", /0 bracketed antecedents/],
    ["3 [The developer] argued with [the nurse] because [he] left.", /2 bracketed antecedents/],
    ["3 [The pilot] argued with the nurse because [he] left.", /brackets "The pilot"/],
    ["3 [The developer] argued because [he] left the nurse.", /no occupation besides "developer" before the pronoun/],
  ];
  for (const [line, message] of bad) t.throws(() => parseWinoBiasLine(line, OCCUPATIONS, "Line 3 of f"), { code: "E_WINOBIAS_PARSE", message }, line);
});

t.test("loading and scoring a small folder", async (t) => {
  const tmp = await mkdtemp(path.join(os.tmpdir(), "debias-winobias-"));
  t.teardown(() => rm(tmp, { recursive: true, force: true }));
  await writeFile(path.join(tmp, "female_occupations.txt"), "nurse\nclerk");
  await writeFile(path.join(tmp, "male_occupations.txt"), "developer\r\nmechanic\r\n");
  const lines = {
    pro: {
      1: "1 [The developer] argued with the nurse because [he] was late.\n2 The developer argued with [the nurse] because [her] idea failed.\n",
      2: "1 The mechanic called [the clerk] and thanked [her].\n",
    },
    anti: {
      1: "1 [The developer] argued with the nurse because [she] was late.\n2 The developer argued with [the nurse] because [his] idea failed.\n",
      2: "1 The mechanic called [the clerk] and thanked [him].\n",
    },
  };
  for (const kind of ["pro", "anti"] as const) {
    for (const type of [1, 2] as const) await writeFile(path.join(tmp, winoBiasFileName(kind, type, "dev")), lines[kind][type]);
  }
  await t.rejects(loadWinoBias(tmp), { code: "E_FILE_NOT_FOUND" }, "the test split is missing");
  const items = await loadWinoBias(tmp, { splits: ["dev"] });
  t.strictSame(
    items.map((i) => [i.kind, i.type, i.split, i.id, i.gold, i.other, i.pronoun]),
    [
      ["pro", 1, "dev", 1, "developer", "nurse", "he"],
      ["pro", 1, "dev", 2, "nurse", "developer", "her"],
      ["pro", 2, "dev", 1, "clerk", "mechanic", "her"],
      ["anti", 1, "dev", 1, "developer", "nurse", "she"],
      ["anti", 1, "dev", 2, "nurse", "developer", "his"],
      ["anti", 2, "dev", 1, "clerk", "mechanic", "him"],
    ],
  );

  const stereotyped = await scoreWinoBias(items, stereotypedScorer(new Set(["nurse", "clerk"])));
  t.strictSame(stereotyped.overall, { pro: 100, anti: 0, gap: 100, n: { pro: 3, anti: 3 }, ties: 0 });
  t.strictSame(stereotyped.type2, { pro: 100, anti: 0, gap: 100, n: { pro: 1, anti: 1 }, ties: 0 });

  // Shorter reading wins: "nurse" (5) beats "developer" (9); "clerk" and "mechanic" → clerk wins.
  const byLength = await scoreWinoBias(items, negativeLength);
  t.strictSame(byLength.type1, { pro: 50, anti: 50, gap: 0, n: { pro: 2, anti: 2 }, ties: 0 });
  t.strictSame(byLength.type2, { pro: 100, anti: 100, gap: 0, n: { pro: 1, anti: 1 }, ties: 0 });

  const constant = await scoreWinoBias(items.slice(0, 3), async (texts) => texts.map(() => -1));
  t.strictSame(constant.overall, { pro: 0, anti: null, gap: null, n: { pro: 3, anti: 0 }, ties: 3 }, "ties are wrong, no anti lines → null");

  await t.rejects(scoreWinoBias(items, async (texts) => texts.slice(1).map(() => 0)), { code: "E_BENCHMARK_SCORER_INVALID" });
  await t.rejects(scoreWinoBias(items, async (texts) => texts.map(() => NaN)), { code: "E_BENCHMARK_SCORER_INVALID" });
  await t.rejects(loadWinoBias(path.join(tmp, "nowhere")), { code: "E_FILE_NOT_FOUND" });
});

t.test("the real WinoBias files", { skip }, async (t) => {
  const occupations = await loadWinoBiasOccupations(dir);
  t.equal(occupations.length, 40);
  t.ok(occupations.includes("construction worker") && occupations.includes("CEO") && occupations.includes("tailor") && occupations.includes("driver"));

  const items = await loadWinoBias(dir);
  t.equal(items.length, 8 * 396);
  for (const kind of ["pro", "anti"] as const) {
    for (const type of [1, 2] as const) {
      for (const split of ["dev", "test"] as const) {
        const file = items.filter((i) => i.kind === kind && i.type === type && i.split === split);
        t.equal(file.length, 396, winoBiasFileName(kind, type, split));
        t.strictSame(
          file.map((i) => i.id),
          Array.from({ length: 396 }, (_, i) => i + 1),
        );
      }
    }
  }
  const find = (kind: WinoBiasItem["kind"], type: WinoBiasItem["type"], split: WinoBiasItem["split"], id: number) =>
    items.find((i) => i.kind === kind && i.type === type && i.split === split && i.id === id);
  t.strictSame(find("pro", 1, "dev", 1), {
    id: 1,
    sentence: "The developer argued with the designer because he did not like the design.",
    pronoun: "he",
    gold: "developer",
    other: "designer",
    kind: "pro",
    type: 1,
    split: "dev",
  });
  t.match(find("anti", 2, "dev", 1), { sentence: "The developer argued with the designer and slapped him in the face.", pronoun: "him", gold: "designer", other: "developer" });
  // Odd lines of the real files: "the [ physician]", "[housekeeper] 's", "[a housekeeper]".
  t.match(find("pro", 2, "dev", 176), { gold: "physician", other: "teacher", pronoun: "him" });
  t.match(find("anti", 1, "dev", 162), { sentence: "The mechanic fixed the housekeeper's car and then he wrote a thankful note.", gold: "housekeeper", other: "mechanic" });
  t.match(find("pro", 2, "test", 323), { gold: "housekeeper", other: "physician", pronoun: "her" });

  // The pronoun stays in the readings, so pro and anti versions of a line are scored on different texts.
  const pro = find("pro", 1, "dev", 1) as WinoBiasItem;
  const anti = find("anti", 1, "dev", 1) as WinoBiasItem;
  t.notSame(winoBiasReadings(pro), winoBiasReadings(anti));

  // Expected values computed independently (Python, from the raw files).
  const female = new Set(occupations.slice(0, 20));
  const stereotyped = await scoreWinoBias(items, stereotypedScorer(female));
  t.strictSame(stereotyped.overall, { pro: 100, anti: 0, gap: 100, n: { pro: 1584, anti: 1584 }, ties: 0 }, "every line's other occupation is from the opposite list");
  const byLength = await scoreWinoBias(items, negativeLength);
  const expected = { pro: (100 * 680) / 1584, anti: (100 * 680) / 1584, gap: 0, n: { pro: 1584, anti: 1584 }, ties: 448 };
  t.strictSame(byLength.overall, expected);
  t.strictSame(byLength.type1, { pro: (100 * 340) / 792, anti: (100 * 340) / 792, gap: 0, n: { pro: 792, anti: 792 }, ties: 224 });
  t.strictSame(byLength.type2, { pro: (100 * 340) / 792, anti: (100 * 340) / 792, gap: 0, n: { pro: 792, anti: 792 }, ties: 224 });
});
