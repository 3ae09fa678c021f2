// What a person meets at the terminal (issue 19's defects): every option given is used or refused in one
// sentence, progress that fits the terminal and leaves it as it found it, counts in words, and no
// neuron or statistic left unexplained.
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { sha256File } from "../../lib/files.js";
import { packageRoot } from "../../lib/package-root.js";
import { CLI, gguf, ggufIn } from "../helpers/cli.js";
import { fixturePath } from "../helpers/fixtures.js";

const scratch = mkdtempSync(join(tmpdir(), "gguf-debias-ux-"));
t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
const ORIGINAL = fixturePath("llama-localized");

/** An edited copy of the bundled model, made once. */
let edited: string | null = null;
async function editedCopy(): Promise<string> {
  if (edited) return edited;
  const neurons = join(scratch, "one.json");
  writeFileSync(neurons, JSON.stringify([{ layer: 1, index: 150, scale: 0 }]));
  const out = join(scratch, "edited.gguf");
  const r = await gguf("edit", ORIGINAL, "--neurons", neurons, "-o", out);
  if (r.code !== 0) throw new Error(r.stderr);
  edited = out;
  return out;
}

/**
 * A command on a pseudo-terminal (util-linux script(1)) `cols` wide; `onOutput` sees the output so far
 * and may type into the terminal. Null where script(1) is missing.
 */
async function onTerminal(cols: number, args: string[], onOutput?: (output: string, type: (keys: string) => void) => void): Promise<string | null> {
  const which = await new Promise<boolean>((resolve) => spawn("script", ["--version"]).on("error", () => resolve(false)).on("close", (code) => resolve(code === 0)));
  if (!which) return null;
  const command = `stty cols ${cols}; exec ${process.execPath} ${CLI} ${args.map((a) => `'${a}'`).join(" ")}`;
  const child = spawn("script", ["-qfc", command, "/dev/null"], { cwd: scratch, stdio: ["pipe", "pipe", "inherit"] });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => {
    output += chunk.toString("utf8");
    onOutput?.(output, (keys) => child.stdin.write(keys));
  });
  await new Promise((resolve) => child.on("close", resolve));
  child.stdin.end();
  return output;
}

/** What a terminal shows, frame by frame: the text between cursor returns, escape codes removed. */
const frames = (output: string): string[] =>
  output.split(/\r|\n|\x1b\[\d*G/).map((s) => s.replace(/\x1b(\[[0-9;?]*[A-Za-z]|[78])/g, "")).filter((s) => s.trim().length > 0);

t.test("1: eval --neutral reads the file it is given, and refuses one that is empty or not text", async (t) => {
  const model = await editedCopy();
  const empty = join(scratch, "empty.txt");
  writeFileSync(empty, "");
  // the start of a GGUF file: small enough to be read, refused for what it holds
  const binary = join(scratch, "header.gguf");
  writeFileSync(binary, Buffer.concat([Buffer.from("GGUF\x03"), Buffer.alloc(59)]));
  for (const bad of [empty, binary]) {
    const r = await gguf("eval", model, "--base", ORIGINAL, "--neutral", bad, "--threads", "1", "--json");
    t.equal(r.code, 1, `${bad} is refused`);
    t.equal(JSON.parse(r.stdout).error.code, "E_NEUTRAL_TEXT");
  }
  const whole = await gguf("eval", model, "--base", ORIGINAL, "--neutral", ORIGINAL, "--threads", "1");
  t.equal(whole.code, 1, "a whole model file is refused too");
  const text = join(scratch, "domain.txt");
  writeFileSync(text, "the cat sat on the mat .\nthe dog is near the house .\n");
  const own = JSON.parse((await gguf("eval", model, "--base", ORIGINAL, "--neutral", text, "--threads", "1", "--json")).stdout);
  const bundled = JSON.parse((await gguf("eval", model, "--base", ORIGINAL, "--threads", "1", "--json")).stdout);
  t.equal(own.neutralText, text, "the result names the text it was measured on");
  t.not(own.perplexity, bundled.perplexity, "another text, another perplexity");
  // eval measures neutral text only: how the vocabulary spells probe words is no concern of it
  const words = await gguf("eval", model, "--base", ORIGINAL, "--dataset", join(packageRoot(), "data", "commonwords.json"), "--threads", "1");
  t.equal(words.code, 0, words.stderr);
  t.notMatch(words.stderr, /probe words split/, "no probe-word warning");
});

t.test("2: run --in-place without a model refuses to edit the model inside the package", async (t) => {
  const before = await sha256File(ORIGINAL);
  const r = await gguf("run", "--in-place", "--threads", "1");
  t.equal(r.code, 2);
  t.match(r.stderr, /^gguf-debias: run --in-place needs a model file: without one it would edit the test model inside the gguf-debias package .*\[E_USAGE\]\n$/);
  t.equal(await sha256File(ORIGINAL), before);
});

t.test("3: the README read in order: the worked example does not collide with the set-up run, and its compare quote is real", async (t) => {
  const readme = readFileSync(join(packageRoot(), "README.md"), "utf8");
  const setup = /npx gguf-debias run\n/.test(readme);
  t.ok(setup, "the set-up runs `npx gguf-debias run`, which writes llama-localized.f32.debiased.gguf");
  const worked = /`npx gguf-debias run ([^`]*)`/.exec(readme)![1]!.split(" ");
  const output = worked[worked.indexOf("-o") + 1];
  t.ok(worked.includes("--overwrite") || (worked.includes("-o") && output !== "llama-localized.f32.debiased.gguf"), `the worked example (${worked.join(" ")}) writes elsewhere or says --overwrite`);
  // the neurons the worked example selected, edited into a copy of that name, then the README's compare
  const selected = /^selected \d+ neurons?, .*: ((?:\d+:\d+ ?)+)$/m.exec(readme)![1]!.trim().split(" ").map((n) => n.split(":").map(Number));
  const dir = join(scratch, "readme");
  mkdirSync(dir);
  writeFileSync(join(dir, "selected.json"), JSON.stringify(selected.map(([layer, index]) => ({ layer, index, scale: 0 }))));
  t.equal((await ggufIn(dir, "edit", ORIGINAL, "--neurons", "selected.json", "-o", output!)).code, 0);
  const compare = /`gguf-debias compare (\S+) (\S+) --prompt "([^"]+)" --tokens (\d+)`/.exec(readme)!;
  t.ok(compare, "the README shows a compare command");
  t.equal(compare[2], output, "it compares the worked example's output");
  const quote = /the original goes on\s+"([^"]*)",\s+the edited\s+model\s+"([^"]*)"/.exec(readme)!;
  const r = await ggufIn(dir, "compare", ORIGINAL, output!, "--prompt", compare[3]!, "--tokens", compare[4]!, "--threads", "1", "--json");
  t.equal(r.code, 0, r.stderr);
  const [pair] = JSON.parse(r.stdout).continuations;
  t.equal(pair.original, quote[1], "the original's continuation is quoted as it is");
  t.equal(pair.edited, quote[2], "the edited model's too");
});

t.test("4: --json keeps stdout for the result and still shows progress on stderr; --quiet silences it", async (t) => {
  const r = await gguf("locate", "--candidates", "4", "--threads", "1", "--json");
  t.equal(r.code, 0, r.stderr);
  t.ok(JSON.parse(r.stdout).neurons.length > 0, "stdout is the JSON result");
  t.match(r.stderr, /zeroing \d+ candidates and \d+ random neurons/, "progress on stderr");
  t.equal((await gguf("locate", "--candidates", "4", "--threads", "1", "--json", "--quiet")).stderr, "");
});

t.test("5: Ctrl-C during a bar gives the terminal back its cursor and line wrapping", async (t) => {
  let typed = false;
  const output = await onTerminal(80, ["locate", "--candidates", "40", "--threads", "1"], (so, type) => {
    if (!typed && so.includes("\x1b[?25l")) {
      typed = true;
      type("\x03");
    }
  });
  if (output === null) return t.skip("script(1) is not available");
  t.ok(typed, "the bar hid the cursor");
  const after = output.slice(output.indexOf("\x1b[?25l"));
  t.match(after, /\x1b\[\?25h/, "the cursor is shown again");
  t.match(after, /\x1b\[\?7h/, "line wrapping is back on");
  t.notMatch(output, /gender, \d+ general/, "the command was interrupted, not finished");
});

t.test("6: the bar fits a narrow terminal, names the stage of the run and its ETA, and shows no count or ETA for one-step stages", async (t) => {
  const output = await onTerminal(60, ["run", "--search", "fast", "--threads", "1", "-o", "fast.gguf"]);
  if (output === null) return t.skip("script(1) is not available");
  const bars = frames(output).filter((f) => /^stage \d of \d/.test(f));
  t.ok(bars.length > 3, `${bars.length} frames of the bar`);
  for (const f of bars) t.ok(f.length < 60, `fits 60 columns: ${JSON.stringify(f)}`);
  for (let k = 1; k <= 6; k++) t.ok(bars.some((f) => new RegExp(`^stage ${k} of 6(, run ETA \\d+s)?: `).test(f)), `stage ${k} of 6 is named`);
  t.ok(bars.some((f) => /^stage 3 of 6, run ETA \d+s: /.test(f)), "with the ETA of the whole run once the search is chosen");
  const oneStep = bars.filter((f) => !/[█░]/.test(f));
  t.ok(oneStep.length > 0 && oneStep.every((f) => !/\b\d+\/\d+\b|· ETA/.test(f)), "a one-step stage has no count and no ETA of its own");
  t.ok(bars.some((f) => /…/.test(f)), "long labels are cut short, marked");
});

/** A fast run with one neuron at most and four random sets: the summary's counts are 1s and 4s. */
let small: { stdout: string; stderr: string } | null = null;
async function smallRun(): Promise<{ stdout: string; stderr: string }> {
  if (small) return small;
  const r = await gguf("run", "--search", "fast", "--max-neurons", "1", "--random-sets", "4", "--threads", "1", "-o", join(scratch, "small.gguf"));
  if (r.code !== 0) throw new Error(r.stderr);
  small = r;
  return r;
}

t.test("7: the summary shows the search's steps with their reasons, and counts one thing in the singular", async (t) => {
  const { stdout } = await smallRun();
  t.match(stdout, /^ {2}round 1: took \+1 neuron \(\d+:\d+\) → [\d.]+ nats at KL [\d.]+/m, "the steps, a line a round");
  t.match(stdout, /selected 1 neuron, /);
  t.match(stdout, /4 random sets of 1 neuron /);
  t.notMatch(stdout, /see steps/);
  t.notMatch(stdout, /\b1 (neurons|steps|sets|candidates|edits)\b|\(s\)/, "no plural after 1, no (s)");
  const neurons = join(scratch, "single.json");
  writeFileSync(neurons, JSON.stringify([{ layer: 1, index: 27 }]));
  t.match((await gguf("edit", ORIGINAL, "--neurons", neurons, "-o", join(scratch, "single.gguf"))).stdout, /^edited 1 neuron of /);
});

t.test("8: locate explains the noise floor and counts the random neurons it zeroes", async (t) => {
  const r = await gguf("locate", "--candidates", "8", "--threads", "1");
  t.equal(r.code, 0, r.stderr);
  const [, candidates] = /^(\d+) candidates zeroed one at a time/m.exec(r.stdout) ?? [];
  t.ok(candidates, "the summary counts the candidates");
  const progress = /zeroing (\d+) candidates and (\d+) random neurons \(the noise floor\) one by one: (\d+)\/(\d+)/.exec(r.stderr)!;
  t.equal(progress[1], candidates, "progress and summary count the same candidates");
  t.equal(Number(progress[4]), Number(progress[1]) + Number(progress[2]), "and the progress total is candidates plus random neurons");
  t.match(r.stdout, new RegExp(`noise floor [\\d.]+ nats: the larger of 0\\.2% of the objective and three times the spread of what zeroing one of ${progress[2]} random neurons does`));
  const json = JSON.parse((await gguf("locate", "--candidates", "8", "--threads", "1", "--json", "--quiet")).stdout);
  const floor = json.noise.noiseFloor;
  const growing = json.neurons.filter((n: { causal: { dLoss: number } }) => n.causal.dLoss > floor);
  t.ok(growing.length > 0, "some candidates grow the objective");
  for (const n of growing) {
    t.match(n.reasons.join(" "), /grows the objective/, `${n.layer}:${n.index} (+${n.causal.dLoss.toFixed(3)}) grows it`);
    t.notMatch(n.reasons.join(" "), /noise floor/, "and is not said to be within the noise floor");
  }
});

t.test("9: edit --neurons with a locate result says what it takes and what it leaves out; --kinds takes more", async (t) => {
  const located = join(scratch, "located.json");
  const l = await gguf("locate", "--candidates", "8", "--threads", "1", "--json", "--quiet");
  writeFileSync(located, l.stdout);
  const neurons = JSON.parse(l.stdout).neurons as { kind: string }[];
  const of = (kind: string) => neurons.filter((n) => n.kind === kind).length;
  const r = await gguf("edit", ORIGINAL, "--neurons", located, "-o", join(scratch, "gender.gguf"));
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, new RegExp(`^took the ${of("gender")} neurons classed gender of the ${neurons.length} candidates in .*located\\.json \\(left out: .*${of("other")} other.*; --kinds gender general other takes every kind\\)`));
  const all = await gguf("edit", ORIGINAL, "--neurons", located, "-o", join(scratch, "all.gguf"), "--kinds", "gender", "general", "other", "--json");
  t.equal(all.code, 0, all.stderr);
  const json = JSON.parse(all.stdout);
  t.equal(json.edited.length, neurons.length, "every kind taken");
  t.match(json.chosen, { kinds: ["gender", "general", "other"], taken: neurons.length, candidates: neurons.length, left: {} });
});

t.test("10: p is shown with the floor the number of random sets puts under it", async (t) => {
  const { stdout } = await smallRun();
  t.match(stdout, /z -?[\d.]+, p [\d.]+ \((held-out|selection) probes; with 4 random sets p cannot go below 1\/5 = 0\.200, so z decides\)/);
});

t.test("11: one wording for each usage mistake, one line each, and help for every argument", async (t) => {
  const cases: [string[], RegExp][] = [
    [["run", "--max-kl", "abc"], /^gguf-debias: --max-kl must be a number, not "abc"\. \[E_USAGE\]\n$/],
    [["run", "--max-kl", "5000"], /^gguf-debias: --max-kl must be a number from 0 to 100, not 5000\. \[E_USAGE\]\n$/],
    [["score", "--min-factual", "2"], /^gguf-debias: score has no option --min-factual \(see gguf-debias score --help\)\. \[E_USAGE\]\n$/],
    [["run", "--search", "fastest"], /^gguf-debias: --search must be one of auto, thorough, fast, exhaustive, not "fastest"\. \[E_USAGE\]\n$/],
    [["run", "--threads"], /^gguf-debias: --threads needs a value \(see gguf-debias run --help\)\. \[E_USAGE\]\n$/],
    [["edit"], /^gguf-debias: edit needs <model>: gguf-debias edit <model> \(see gguf-debias edit --help\)\. \[E_USAGE\]\n$/],
    [["edit", "x.gguf"], /^gguf-debias: edit needs --neurons \(see gguf-debias edit --help\)\. \[E_USAGE\]\n$/],
    [["inspect", "a.gguf", "b.gguf"], /^gguf-debias: inspect takes no further argument "b\.gguf" \(see gguf-debias inspect --help\)\. \[E_USAGE\]\n$/],
  ];
  for (const [args, sentence] of cases) {
    const r = await gguf(...args);
    t.equal(r.code, 2, args.join(" "));
    t.match(r.stderr, sentence);
    const json = await gguf(...args, "--json");
    t.match(JSON.parse(json.stdout), { error: { code: "E_USAGE", message: sentence.source.includes("must be") ? /must be/ : String } });
  }
  t.match((await gguf("run", "--help")).stdout, /--seed\s+Seed of the random neurons/);
  for (const command of ["edit", "undo", "eval"]) t.match((await gguf(command, "--help")).stdout, /model\s+The (GGUF|edited)/, `${command} <model> has help text`);
});

t.test("13: score and locate name the model and dataset they measured, by absolute path", async (t) => {
  for (const args of [["score"], ["locate", "--candidates", "2"]]) {
    const r = await ggufIn(packageRoot(), ...args, join("models", "llama-localized.f32.gguf"), "--threads", "1", "--json", "--quiet");
    t.equal(r.code, 0, r.stderr);
    t.match(JSON.parse(r.stdout), { model: ORIGINAL, dataset: "the bundled demo dataset" }, args[0]);
  }
});

t.test("13: inspect shows the quantization, parameters, vocabulary and size, absolute paths, and a history whose columns line up", async (t) => {
  const q4 = fixturePath("llama-localized", "q4_k");
  const json = JSON.parse((await ggufIn(join(packageRoot(), "test"), "inspect", join("fixtures", "llama-localized.q4_k.gguf"), "--json")).stdout);
  t.match(json, { file: q4, fileBytes: statSync(q4).size, vocabulary: 824, tensorTypes: { Q4_K: Number, F32: Number } });
  t.ok(json.parameters > 3e6 && json.parameters < 3.1e6, `${json.parameters} parameters`);
  const model = join(scratch, "history.gguf");
  copyFileSync(ORIGINAL, model);
  const neurons = join(scratch, "history.json");
  writeFileSync(neurons, JSON.stringify([{ layer: 1, index: 5 }, { layer: 2, index: 9, scale: 0.5 }]));
  t.equal((await gguf("edit", model, "--neurons", neurons, "--in-place")).code, 0);
  writeFileSync(neurons, JSON.stringify([{ layer: 0, index: 1 }]));
  t.equal((await gguf("edit", model, "--neurons", neurons, "--in-place")).code, 0);
  const human = (await gguf("inspect", model)).stdout;
  t.match(human, /^\S+history\.gguf: GGUF v3, llama, [\d.]+ MiB\n3\.05M parameters in 39 tensors \(F32 ×39\), vocabulary of 824 tokens\n/);
  t.match(human, /\n2 in-place edits, oldest first/);
  const rows = human.split("\n").filter((l) => /^(when|\d{4}-)/.test(l));
  t.equal(rows.length, 3);
  for (const word of ["state", "by", "neurons"]) {
    const at = rows[0]!.indexOf(word);
    t.ok(rows.slice(1).every((r) => r[at - 1] === " " && r[at] !== " "), `the ${word} column starts at one place`);
  }
});

t.test("datasets by name: --dataset tinystories is the bundled file, and the split-word warning points at a bundled dataset that fits", async (t) => {
  const named = await gguf("score", "--dataset", "tinystories", "--threads", "1", "--json");
  t.equal(named.code, 0, named.stderr);
  t.equal(JSON.parse(named.stdout).dataset, "the bundled tinystories dataset");
  const tiny = join(packageRoot(), "..", "shared", "models", "TinyStories-656K.f16.gguf");
  if (!existsSync(tiny)) return t.skip("../shared/models is absent");
  const common = await gguf("score", tiny, "--threads", "1", "--json");
  t.equal(common.code, 0, common.stderr);
  t.match(common.stderr, /probe words of the commonwords dataset split into 3 or more tokens .*; the bundled tinystories dataset suits this vocabulary better \(\d+ of \d+ words split\): --dataset tinystories\.\n/);
  const stories = await gguf("score", tiny, "--dataset", "tinystories", "--threads", "1", "--json");
  t.equal(stories.code, 0, stories.stderr);
  t.notMatch(stories.stderr, /split into 3 or more tokens/, "the story dataset fits the story model: no warning");
});

t.test("standard benchmarks: score, eval and run take --benchmark and show the numbers before and after", async (t) => {
  const dir = join(scratch, "benchmarks");
  const wino = join(dir, "wino");
  mkdirSync(wino, { recursive: true });
  writeFileSync(join(wino, "female_occupations.txt"), "nurse\nsecretary\n");
  writeFileSync(join(wino, "male_occupations.txt"), "mechanic\ncarpenter\n");
  for (const type of [1, 2]) {
    for (const [kind, pronouns] of [["pro", ["she", "he"]], ["anti", ["he", "she"]]] as const) {
      writeFileSync(join(wino, `${kind}_stereotyped_type${type}.txt.test`), `1 The mechanic called [the nurse] because [${pronouns[0]}] was late.\n2 [The carpenter] called the secretary because [${pronouns[1]}] was late.\n`);
    }
  }
  const crows = join(dir, "crows.csv");
  writeFileSync(crows, ",sent_more,sent_less,stereo_antistereo,annotations,anon_writer,anon_annotators,bias_type\n0,Women cry.,Men cry.,stereo,[],a,[],gender\n1,He is strong.,She is strong.,stereo,[],a,[],gender\n");
  const given = ["--benchmark", `winobias=${wino}`, "--benchmark", `crows-pairs=${crows}`, "--threads", "1"];

  const score = await gguf("score", ...given, "--json");
  t.equal(score.code, 0, score.stderr);
  const scored = JSON.parse(score.stdout).benchmarks;
  t.same([scored.winobias.overall.n, scored.crowsPairs.n, scored.crowsPairs.leftOut], [{ pro: 4, anti: 4 }, 2, 0], "both benchmarks scored on the model");
  const human = await gguf("score", ...given);
  t.match(human.stdout, /score\nWinoBias accuracy, pro-stereotyped \(%\) +[\d.]+\n/, "a table a person reads");
  t.match(human.stdout, /CrowS-Pairs, stereotypical sentence likelier \(%; ideal 50\) +(0|50|100)\.0\nWinoBias: the test split, 4 pro- and 4 anti-stereotyped lines; CrowS-Pairs: 2 gender pairs\./);

  const evaluated = await gguf("eval", await editedCopy(), "--base", ORIGINAL, ...given, "--json");
  t.equal(evaluated.code, 0, evaluated.stderr);
  const both = JSON.parse(evaluated.stdout).benchmarks;
  t.same(both.original, scored, "eval scores the original as score does");
  t.ok(both.edited.winobias && both.edited.crowsPairs, "and the edited model");

  const out = join(dir, "run.gguf");
  const run = await gguf("run", ...given, "--search", "fast", "-o", out, "--json");
  t.equal(run.code, 0, run.stderr);
  const result = JSON.parse(run.stdout);
  t.equal(result.written, true, "the fixture's planted stereotype is removed and written");
  t.same(result.benchmarks.before, scored, "before: the original's numbers");
  t.same(result.benchmarks.after, result.benchmarks.predicted, "the written file scores what the hook predicted, exactly");
  t.match(result.report, / +before +after\nWinoBias accuracy, pro-stereotyped \(%\)[^]*\nWinoBias: the test split, 4 pro- and 4 anti-stereotyped lines; CrowS-Pairs: 2 gender pairs\./);
  const again = await gguf("run", ...given, "--search", "fast", "-o", join(dir, "again.gguf"), "--json");
  const strip = (r: { selected: unknown; verdict: unknown; after: unknown }) => ({ selected: r.selected, verdict: r.verdict, after: r.after });
  const plain = await gguf("run", "--threads", "1", "--search", "fast", "-o", join(dir, "plain.gguf"), "--json");
  t.same(strip(JSON.parse(plain.stdout)), strip(JSON.parse(again.stdout)), "benchmarks never steer the search: the same set and verdict without them");

  const clash = await gguf("run", ...given, "-o", crows, "--overwrite");
  t.equal(clash.code, 1);
  t.match(clash.stderr, /The output .*crows\.csv is the CrowS-Pairs file/, "no output may be a benchmark file, checked before any work");
  const bad = await gguf("score", "--benchmark", "stereoset=x.json");
  t.equal(bad.code, 1);
  t.match(bad.stderr, /^gguf-debias: The benchmark "stereoset=x.json" is not winobias=DIR .* \[E_BENCHMARK_SPEC\]\n$/);
});

const sharedWinoBias = join(packageRoot(), "..", "shared", "benchmarks", "winobias");
t.test("the real WinoBias files on the bundled model: before and after in the JSON, the summary and the report", { skip: existsSync(sharedWinoBias) ? false : `${sharedWinoBias} is absent` }, async (t) => {
  const dir = join(scratch, "real-winobias");
  mkdirSync(dir, { recursive: true });
  const report = join(dir, "report.html");
  const r = await gguf("run", "--benchmark", `winobias=${sharedWinoBias}`, "--search", "fast", "--threads", "1", "-o", join(dir, "out.gguf"), "--report", report, "--json");
  t.equal(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout);
  const [before, after] = [result.benchmarks.before.winobias.overall, result.benchmarks.after.winobias.overall];
  t.same([before.n, after.n], [{ pro: 792, anti: 792 }, { pro: 792, anti: 792 }], "the test split's 792 pro and 792 anti lines, before and after");
  t.ok([before.pro, before.anti, after.pro, after.anti].every((v: number) => v >= 0 && v <= 100), "accuracies in percent");
  t.match(result.report, / +before +after\nWinoBias accuracy, pro-stereotyped \(%\)[^]*\nWinoBias: the test split, 792 pro- and 792 anti-stereotyped lines/);
  t.match(readFileSync(report, "utf8"), /<h2>Standard benchmarks<\/h2>[^]*data-chart="benchmarks"/);
});
