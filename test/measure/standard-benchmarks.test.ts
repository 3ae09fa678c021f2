// --benchmark as a user writes it, and the benchmarks scored with sentences the model cannot spell left
// out and counted (no model: a fake scorer that likes shorter sentences).
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import { benchmarkFiles, benchmarkSentences, loadBenchmarks, parseBenchmarkSpec, scoreBenchmarks } from "../../lib/measure/standard-benchmarks.js";
import { winoBiasFileName } from "../../lib/measure/winobias.js";

const shorter = () => async (texts: string[]) => texts.map((text) => -text.length);

async function tinyWinoBias(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "female_occupations.txt"), "nurse\n");
  await writeFile(join(dir, "male_occupations.txt"), "mechanic\n");
  const line = (pronoun: string) => `1 The mechanic called [the nurse] because [${pronoun}] was late.\n`;
  for (const type of [1, 2] as const) {
    await writeFile(join(dir, winoBiasFileName("pro", type, "test")), line("she"));
    await writeFile(join(dir, winoBiasFileName("anti", type, "test")), line("he"));
  }
}

const CSV = ",sent_more,sent_less,stereo_antistereo,annotations,anon_writer,anon_annotators,bias_type\n" +
  "0,Women cry.,Men cry.,stereo,[],a,[],gender\n" +
  "1,He is strong.,She is strong.,stereo,[],a,[],gender\n" +
  "2,A 50% raise for him.,A 50% raise for her.,antistereo,[],a,[],gender\n" +
  "3,Poor people steal.,Rich people steal.,stereo,[],a,[],socioeconomic\n";

t.test("a --benchmark names winobias=DIR or crows-pairs=FILE, anything else is one sentence", async (t) => {
  t.same(parseBenchmarkSpec("winobias=data/wino"), { name: "winobias", path: "data/wino" });
  t.same(parseBenchmarkSpec("CrowS-Pairs=a=b.csv"), { name: "crows-pairs", path: "a=b.csv" }, "the name in any case; the path may hold =");
  for (const bad of ["winobias", "winobias=", "stereoset=x.json", "=x"]) t.throws(() => parseBenchmarkSpec(bad), { code: "E_BENCHMARK_SPEC", message: /winobias=DIR .* crows-pairs=FILE/ }, bad);
});

t.test("each benchmark is loaded once: WinoBias's test split, CrowS-Pairs's gender pairs", async (t) => {
  const dir = t.testdir();
  await tinyWinoBias(join(dir, "wino"));
  await writeFile(join(dir, "crows.csv"), CSV);
  const loaded = await loadBenchmarks([parseBenchmarkSpec(`winobias=${join(dir, "wino")}`), parseBenchmarkSpec(`crows-pairs=${join(dir, "crows.csv")}`)]);
  t.equal(loaded.winobias!.length, 4, "pro and anti, types 1 and 2, test split only (no dev files exist)");
  t.same(loaded.crowsPairs!.map((p) => p.id), ["0", "1", "2"], "gender pairs only");
  t.equal(benchmarkSentences(loaded), 14);
  await t.rejects(loadBenchmarks([parseBenchmarkSpec("winobias=a"), parseBenchmarkSpec("winobias=b")]), { code: "E_BENCHMARK_SPEC", message: /named 2 times \(a, b\)/ });
  await t.rejects(loadBenchmarks([parseBenchmarkSpec(`crows-pairs=${join(dir, "missing.csv")}`)]), { code: "E_FILE_NOT_FOUND" });
  await t.rejects(loadBenchmarks([parseBenchmarkSpec(`crows-pairs=${dir}`)]), { code: "E_NOT_A_FILE" });
  t.same(benchmarkFiles({ name: "winobias", path: "w" }).map((f) => f.path).sort(), ["w/anti_stereotyped_type1.txt.test", "w/anti_stereotyped_type2.txt.test", "w/female_occupations.txt", "w/male_occupations.txt", "w/pro_stereotyped_type1.txt.test", "w/pro_stereotyped_type2.txt.test"], "every file a run reads, so none can be its output");
});

t.test("a pair or line the model cannot spell is left out and counted; the rest are scored", async (t) => {
  const dir = t.testdir();
  await tinyWinoBias(join(dir, "wino"));
  await writeFile(join(dir, "crows.csv"), CSV);
  const loaded = await loadBenchmarks([{ name: "winobias", path: join(dir, "wino") }, { name: "crows-pairs", path: join(dir, "crows.csv") }]);
  const asked: string[] = [];
  const scores = await scoreBenchmarks(loaded, (name) => (asked.push(name), shorter()), (text) => !text.includes("%"));
  t.same(asked, ["winobias", "crows-pairs"]);
  t.same({ ...scores.crowsPairs }, { score: 50, n: 2, ties: 0, stereo: { score: 50, n: 2 }, antistereo: { score: null, n: 0 }, leftOut: 1 }, "the shorter sentence is the stereotypical one in 1 of the 2 spelled pairs");
  t.equal(scores.winobias!.leftOut, 0);
  t.same(scores.winobias!.overall.n, { pro: 2, anti: 2 });
  const none = await scoreBenchmarks(loaded, shorter, () => false);
  t.same([none.winobias!.overall.n, none.winobias!.leftOut, none.crowsPairs!.n, none.crowsPairs!.leftOut], [{ pro: 0, anti: 0 }, 4, 0, 3], "nothing spelled, nothing scored, all counted");
});
