// The CLI as a user meets it: JSON on stdout that other tools can parse, progress on stderr, one sentence
// and a non-zero exit code on bad input, and the edit → inspect → undo round trip on a real file.
import { execFile, execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import t from "tap";
import { sha256File } from "../../lib/files.js";
import { packageRoot } from "../../lib/package-root.js";
import { CLI, gguf, ggufIn } from "../helpers/cli.js";
import { DEFAULTS } from "../../lib/defaults.js";
import { FIXTURES, fixturePath } from "../helpers/fixtures.js";

const scratch = mkdtempSync(join(tmpdir(), "gguf-debias-cli-"));
t.teardown(() => rmSync(scratch, { recursive: true, force: true }));

t.test("inspect --json follows the contract", async (t) => {
  const { code, stdout } = await gguf("inspect", "--json");
  t.equal(code, 0);
  const result = JSON.parse(stdout);
  t.match(result, { version: 3, arch: "llama", nLayer: 4, nEmbd: 256, gated: true, tensorCount: Number, edits: [] });
  t.match(result.tensors[0], { name: String, type: String, shape: Array, offset: Number });
});

t.test("edit in place, inspect, undo: back to the original bytes", async (t) => {
  const model = join(scratch, "model.gguf");
  copyFileSync(fixturePath("gpt2-localized"), model);
  const original = await sha256File(model);
  const neurons = join(scratch, "neurons.json");
  writeFileSync(neurons, JSON.stringify([{ layer: 1, index: 5, scale: 0 }, { layer: 2, index: 9, scale: 0.5 }]));
  const edit = await gguf("edit", model, "--neurons", neurons, "--in-place", "--json");
  t.equal(edit.code, 0, edit.stderr);
  const edited = JSON.parse(edit.stdout);
  t.match(edited, { file: model, edited: [{ layer: 1, index: 5, scale: 0 }, { layer: 2, index: 9, scale: 0.5 }], bytesWritten: Number, journal: String });
  t.ok(edited.bytesWritten > 0 && edited.bytesWritten < 10000, `${edited.bytesWritten} bytes written`);
  t.not(await sha256File(model), original);
  const inspect = JSON.parse((await gguf("inspect", model, "--json")).stdout);
  t.equal(inspect.edits.length, 1, "inspect lists the edit");
  const human = (await gguf("inspect", model)).stdout;
  t.match(human, /1 in-place edit, oldest first[\s\S]*undo[\s\S]*\.debias-journal[\s\S]*committed .* 1:5 2:9×0\.5/, "the human output is a table of edits, with the undo command and where the record lives");
  const undo = await gguf("undo", model, "--json");
  t.equal(undo.code, 0, undo.stderr);
  t.match(JSON.parse(undo.stdout), { file: model, restored: true, sha256: original });
  t.equal(await sha256File(model), original);
});

t.test("edit to a new file carries provenance", async (t) => {
  const neurons = join(scratch, "n.json");
  writeFileSync(neurons, JSON.stringify({ neurons: [{ layer: 1, index: 3, kind: "gender" }, { layer: 0, index: 1, kind: "general" }] }));
  const out = join(scratch, "out.gguf");
  const edit = await gguf("edit", fixturePath("llama-localized"), "--neurons", neurons, "-o", out, "--json");
  t.equal(edit.code, 0, edit.stderr);
  t.same(JSON.parse(edit.stdout).edited, [{ layer: 1, index: 3, scale: 0 }], "only gender neurons are taken from a locate result");
  const inspect = JSON.parse((await gguf("inspect", out, "--json")).stdout);
  t.ok(inspect.provenance, "debias.* metadata");
  const evaluation = await gguf("eval", out, "--base", fixturePath("llama-localized"), "--json");
  t.equal(evaluation.code, 0, evaluation.stderr);
  const result = JSON.parse(evaluation.stdout);
  t.match(result, { kl: Number, top1Agreement: Number, perplexity: Number, basePerplexity: Number });
  t.ok(result.kl > 0 && result.kl < 0.05, `KL ${result.kl}`);
});

t.test("bad input: one sentence, non-zero exit, nothing touched", async (t) => {
  const missing = await gguf("inspect", join(scratch, "missing.gguf"));
  t.equal(missing.code, 1);
  t.match(missing.stderr, /^gguf-debias: .*missing\.gguf.*\n$/);
  const text = join(scratch, "text.gguf");
  writeFileSync(text, "not a model at all, just text\n");
  t.equal((await gguf("score", text)).code, 1);
  const neurons = join(scratch, "bad.json");
  writeFileSync(neurons, "[{\"layer\": 1}]");
  const model = join(scratch, "m.gguf");
  copyFileSync(fixturePath("llama-localized"), model);
  const before = await sha256File(model);
  const bad = await gguf("edit", model, "--neurons", neurons, "--in-place");
  t.equal(bad.code, 1);
  t.match(bad.stderr, /entry 0 .* is not \{layer/);
  writeFileSync(neurons, JSON.stringify([{ layer: 1, index: 99999, scale: 0 }]));
  const range = await gguf("edit", model, "--neurons", neurons, "--in-place");
  t.equal(range.code, 1);
  t.match(range.stderr, /99999/);
  t.equal(await sha256File(model), before, "the model is unchanged");
  t.equal((await gguf("edit", model, "--neurons", neurons)).code, 2, "neither --in-place nor -o");
  t.equal((await gguf("frobnicate")).code, 2, "unknown command");
  t.equal((await gguf("undo", model)).code, 1, "nothing to undo");
  writeFileSync(neurons, "[null]");
  const nullEntry = await gguf("edit", model, "--neurons", neurons, "--in-place");
  t.equal(nullEntry.code, 1, "a null entry is bad input, not a crash");
  t.match(nullEntry.stderr, /^gguf-debias: entry 0 of .*bad\.json is not \{layer: integer, index: integer, scale\?: number\} \[E_NEURON_LIST\]\n$/);
  t.equal(await sha256File(model), before, "still unchanged");
});

t.test("compare prints both continuations of each prompt", async (t) => {
  const r = await gguf("compare", fixturePath("llama-localized"), fixturePath("llama-localized"), "--prompt", "I told the nurse", "--prompt", "Ask the pilot", "--tokens", "5", "--threads", "1", "--json");
  t.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  t.match(out, { tokens: 5, continuations: [{ prompt: "I told the nurse", identical: true, sharedTokens: 5 }, { prompt: "Ask the pilot", identical: true }] });
  const human = await gguf("compare", fixturePath("llama-localized"), fixturePath("llama-localized"), "--prompt", "I told the nurse", "--tokens", "5", "--threads", "1");
  t.match(human.stdout, /^"I told the nurse" \(identical\)\n  original: I told the nurse \S.*\n  edited:   I told the nurse \S/);
  t.equal((await gguf("compare", fixturePath("llama-localized"), fixturePath("llama-localized"), "--tokens", "0")).code, 2, "--tokens 0 is a usage error");
});

t.test("eval refuses models that do not share a vocabulary; a copied fixture keeps its own word list", async (t) => {
  const tiny = join(packageRoot(), "..", "shared", "models", "TinyStories-656K.f16.gguf");
  if (!existsSync(tiny)) return t.skip("../shared/models is absent");
  const mismatch = await gguf("eval", fixturePath("gpt2-localized"), "--base", tiny, "--json");
  t.equal(mismatch.code, 1);
  t.match(JSON.parse(mismatch.stdout), { error: { code: "E_VOCAB_MISMATCH", message: /different vocabularies \(2048 and 824 tokens\)/ } });
  const copy = join(scratch, "elsewhere.gguf");
  copyFileSync(fixturePath("llama-localized"), copy);
  const [here, there] = await Promise.all([gguf("score", fixturePath("llama-localized"), "--json"), gguf("score", copy, "--json")]);
  t.equal(JSON.parse(there.stdout).stereotypeGap, JSON.parse(here.stdout).stereotypeGap, "the same probes, so the same gap, wherever the file is");
});

t.test("a model renamed without its journal, and an interrupted edit: inspect and undo say what happened", async (t) => {
  const dir = join(scratch, "moved");
  mkdirSync(dir);
  const model = join(dir, "a.gguf");
  copyFileSync(fixturePath("llama-localized"), model);
  const original = await sha256File(model);
  const neurons = join(dir, "n.json");
  writeFileSync(neurons, JSON.stringify([{ layer: 1, index: 3, scale: 0 }]));
  const later = join(dir, "later.json");
  writeFileSync(later, JSON.stringify([{ layer: 2, index: 5, scale: 0 }]));
  t.equal((await gguf("edit", model, "--neurons", neurons, "--in-place")).code, 0);
  const afterFirst = await sha256File(model);
  t.equal((await gguf("edit", model, "--neurons", later, "--in-place")).code, 0);
  const renamed = join(dir, "b.gguf");
  renameSync(model, renamed);
  t.match((await gguf("inspect", renamed)).stdout, /2 in-place edits, oldest first[\s\S]*the undo record is .*a\.gguf\.debias-journal \(found by the file's device and inode/, "the journal left under the old name is found");

  // a kill between journal and commit of the second edit leaves it pending
  const journal = JSON.parse(readFileSync(`${model}.debias-journal`, "utf8")) as { entries: { state: string }[] };
  journal.entries[1]!.state = "pending";
  writeFileSync(`${model}.debias-journal`, JSON.stringify(journal));
  const score = await gguf("score", renamed);
  t.equal(score.code, 1, "a half-edited model is not measured, whatever its name now");
  t.match(score.stderr, /interrupted in-place edit.*run `gguf-debias undo .*b\.gguf`/);
  const undo = await gguf("undo", renamed);
  t.equal(undo.code, 0, "undo rolls the interrupted edit back and succeeds");
  t.match(undo.stdout, /rolled back 1 interrupted edit of [\s\S]*1 earlier edit remains[\s\S]*1:3/, "and says which edit remains");
  t.equal(await sha256File(renamed), afterFirst, "only the interrupted edit is taken back");
  const json = JSON.parse((await gguf("undo", renamed, "--json")).stdout);
  t.match(json, { undone: 1, rolledBack: 0, remaining: [] });
  t.equal(await sha256File(renamed), original);

  // a copy has another inode: only its bytes tie it to the journal its original left
  t.equal((await gguf("edit", renamed, "--neurons", neurons, "--in-place")).code, 0);
  const copy = join(dir, "c.gguf");
  copyFileSync(renamed, copy);
  rmSync(renamed);
  t.match((await gguf("inspect", copy)).stdout, /no edit journal at .*c\.gguf\.debias-journal, but .*b\.gguf\.debias-journal records the in-place edits this file carries/);
  const lost = await gguf("undo", copy);
  t.equal(lost.code, 1);
  t.match(lost.stderr, /b\.gguf\.debias-journal records the in-place edits it carries .* rename that journal to c\.gguf\.debias-journal/);
  renameSync(`${renamed}.debias-journal`, `${copy}.debias-journal`);
  t.equal((await gguf("undo", copy)).code, 0, "with its journal renamed too, undo works");
  t.equal(await sha256File(copy), original);
});

t.test("score and locate: clean JSON on stdout, progress on stderr (a bar on a terminal, lines elsewhere, none with --quiet)", async (t) => {
  const score = await gguf("score", "--json");
  t.equal(score.code, 0, score.stderr);
  const result = JSON.parse(score.stdout);
  t.match(result, { stereotypeGap: Number, stereotypeGapSe: Number, priorSkew: Number, residual: Number, bias: Number, biasSigned: Number, biasedFraction: Number, factualAccuracy: Number, factualMargin: Number, splits: { selection: { stereotypeGap: Number }, heldout: { stereotypeGap: Number } }, categories: Object, templates: Object, words: Array });
  t.match(result.words[0], { word: String, category: String, label: String, split: String, b: Number, residual: Number });
  t.match(score.stdout.length > 0 && (await gguf("score")).stdout, /gap Δ[\s\S]*prior[\s\S]*held-out/, "the human table shows gap and prior");
  const located = await gguf("locate", "--json", "--candidates", "4");
  t.equal(located.code, 0, located.stderr);
  const neurons = JSON.parse(located.stdout).neurons;
  t.match(neurons[0], { layer: Number, index: Number, dla: Number, causal: { dLoss: Number, dFactual: Number, kl: Number }, kind: /^(gender|general|other)$/ });
  t.match(located.stderr, /zeroing \d+ candidates/, "--json: progress still on stderr");
  const plain = await gguf("locate", "--candidates", "4", "--threads", "1");
  t.match(plain.stderr, /^direct effects \(\d+ s\)\n[\s\S]*zeroing \d+ candidates and \d+ random neurons \(the noise floor\) one by one: \d+\/\d+ \(\d+ s\)\n/, "without a terminal: one line per stage and per tenth of a long one");
  t.ok(plain.stderr.split("\n").length < 40, "a handful of lines, not one per step");
  t.equal((await gguf("locate", "--candidates", "4", "--threads", "1", "--quiet")).stderr, "", "--quiet: none");
  // a pseudo-terminal from util-linux's script(1): the bar, an ETA, then the result on a clean line
  const tty = await promisify(execFile)("script", ["-qc", `${process.execPath} ${CLI} locate --candidates 4 --threads 1`, "/dev/null"]).catch(() => null);
  if (tty === null) return t.comment("script(1) is not available: the terminal bar is not tested");
  t.match(tty.stdout, /zeroing \d+ candidates.* [█░]+ \d+\/\d+ · \d+s · ETA/, "a bar with count, elapsed time and ETA");
  t.match(tty.stdout, /\x1b\[2K\d+ candidates zeroed one at a time/, "the bar is cleared before the result");
});

t.test("a run whose selection is empty: exit 0, a JSON verdict, the input unchanged", async (t) => {
  // A copy elsewhere: the run still finds the demo's own probes, by the model's vocabulary.
  const dir = join(scratch, "empty");
  mkdirSync(dir);
  const model = join(dir, "llama-localized.f32.gguf");
  copyFileSync(fixturePath("llama-localized"), model);
  const original = await sha256File(model);
  const output = join(dir, "out.gguf");
  const quick = ["--max-kl", "0", "--candidates", "4", "--random-sets", "2", "--threads", "1", "--json"];
  for (const mode of [["-o", output, "--report", join(dir, "run.html")], ["--in-place"]]) {
    const result = await gguf("run", model, ...mode, ...quick);
    t.equal(result.code, 0, result.stderr);
    const json = JSON.parse(result.stdout);
    t.match(json, { written: false, edited: [], verdict: { kind: "not-localized", sentence: /Nothing was edited/ } }, `${mode[0]}: ${json.verdict.sentence}`);
    const stages = Object.values(json.cost.stages) as { seconds: number; passes: number; tokens: number }[];
    t.equal(stages.reduce((n, s) => n + s.tokens, 0), json.cost.tokens, "tokens add up over the stages");
    t.equal(json.cost.passes, Math.round((10 * json.cost.tokens) / json.cost.tokensPerPass) / 10, "passes are tokens over the tokens of a pass");
    t.ok(Math.abs(stages.reduce((n, s) => n + s.passes, 0) - json.cost.passes) <= 0.05 * stages.length, "and add up over the stages, but for rounding");
    const measuring = json.cost.stages["measuring the original model"];
    t.ok(measuring.passes > 1 && measuring.passes < 2, `measuring the original (every probe, the neutral text) costs ${measuring.passes} passes`);
    t.ok(json.cost.tokens > 0 && json.cost.peakRssBytes > 50e6, `${json.cost.tokens} tokens, peak RSS ${Math.round(json.cost.peakRssBytes / 2 ** 20)} MiB`);
    t.notOk(existsSync(output), "no output file");
    t.equal(await sha256File(model), original, "the model is unchanged");
    const saved = join(dir, "run.json");
    writeFileSync(saved, result.stdout);
    const report = await gguf("report", saved);
    t.equal(report.code, 0, report.stderr);
    t.match(report.stdout, /nothing written[\s\S]*stereotype gap Δ[\s\S]*verdict \(not-localized\)/, "report reads the saved run");
    const html = join(dir, `${mode[0]!.replace(/\W/g, "")}.html`);
    t.equal((await gguf("report", saved, "--html", html)).code, 0);
    t.match(readFileSync(html, "utf8"), /<p class="verdict not-localized"><strong>not-localized<\/strong>[\s\S]*gguf-debias run .*--max-kl 0/, "the HTML report names the verdict and the command");
  }
  t.match(readFileSync(join(dir, "run.html"), "utf8"), /<figure data-chart="gap">/, "run --report wrote it too");
  t.equal((await gguf("run", model, "--report", join(dir, "run.html"), ...quick)).code, 1, "an existing report is not replaced, and the run does not start");
  writeFileSync(join(dir, "old.json"), JSON.stringify({ before: {}, after: {}, verdict: {} }));
  const old = await gguf("report", join(dir, "old.json"));
  t.equal(old.code, 1);
  t.match(old.stderr, /is not a `gguf-debias run --json` result this version can read \(file is missing\); run it again/);
});

t.test("report and the readers of user files: a missing, piped or malformed file is one clear error, also under --json", async (t) => {
  const dir = mkdtempSync(join(scratch, "inputs-"));
  const nope = await gguf("report", join(dir, "nope.json"), "--json");
  t.equal(nope.code, 1);
  t.match(JSON.parse(nope.stdout), { error: { code: "E_FILE_NOT_FOUND", message: /nope\.json does not exist/ } });
  const malformed = JSON.parse(readFileSync(join(FIXTURES, "run-result.json"), "utf8")) as { after: { splits?: unknown }; edited: unknown };
  delete malformed.after.splits;
  malformed.edited = null;
  writeFileSync(join(dir, "bad.json"), JSON.stringify(malformed));
  const bad = await gguf("report", join(dir, "bad.json"), "--json");
  t.equal(bad.code, 1);
  t.match(JSON.parse(bad.stdout), { error: { code: "E_RUN_RESULT", message: /after\.splits is missing/ } });
  t.notMatch(bad.stderr, /TypeError|\n\s+at /, "no stack trace");
  const fifo = join(dir, "fifo");
  execFileSync("mkfifo", [fifo]);
  for (const args of [["report", fifo], ["score", "--dataset", fifo, "--threads", "1"], ["score", "--neutral", fifo, "--threads", "1"]]) {
    const r = await gguf(...args, "--json");
    t.equal(r.code, 1, `${args[0]} ${args[1]}: refused, not blocked on`);
    t.match(JSON.parse(r.stdout), { error: { code: "E_NOT_A_FILE", message: /fifo is a pipe, not a regular file/ } });
  }
});

t.test("the help shows the library's own defaults, written once in lib/defaults.ts", async (t) => {
  const help = (await gguf("run", "--help")).stdout.replace(/\s+/g, " ");
  const flags = Object.entries(DEFAULTS).filter(([key]) => key !== "thoroughWork");
  for (const [key, value] of flags) {
    const flag = key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    t.match(help, new RegExp(`--${flag}\\b[^\\[]*\\[number\\] \\[default: ${String(value).replace(".", "\\.")}\\]`), `--${flag} defaults to ${value}`);
  }
});

t.test("numeric options are checked before any work", async (t) => {
  for (const bad of [["--max-kl", "abc"], ["--max-kl", "-1"], ["--min-factual-ratio", "5"], ["--max-neurons", "-3"], ["--threads", "0"], ["--min-reduction", "2"]]) {
    const result = await gguf("run", ...bad, "--json");
    t.equal(result.code, 2, `${bad.join(" ")} → exit 2`);
    t.match(result.stderr, new RegExp(`^gguf-debias: --${bad[0]!.slice(2)} must be`), result.stderr.trim());
  }
  const old = await gguf("run", "--min-factual", "5", "--json");
  t.equal(old.code, 2, "the option's old name still works, and is checked the same");
  t.match(old.stderr, /^gguf-debias: --min-factual-ratio must be/);
});

t.test("--neutral: the model's own domain text for KL", async (t) => {
  const missing = await gguf("locate", "--neutral", join(scratch, "nope.txt"), "--candidates", "2");
  t.equal(missing.code, 1);
  t.match(missing.stderr, /neutral text file .*nope\.txt does not exist.*\[E_FILE_NOT_FOUND\]/);
  const text = join(scratch, "neutral.txt");
  writeFileSync(text, "the cat sat on the mat .\n\nthe dog is near the house .\n");
  const located = await gguf("locate", "--neutral", text, "--candidates", "2", "--threads", "1", "--json");
  t.equal(located.code, 0, located.stderr);
  t.ok(JSON.parse(located.stdout).neurons.length >= 2);
});

t.test("run writes into the current directory by default, and checks the destination before any work", async (t) => {
  const dir = join(scratch, "cwd");
  mkdirSync(dir);
  writeFileSync(join(dir, "llama-localized.f32.debiased.gguf"), "an earlier result");
  const exists = await ggufIn(dir, "run", "--threads", "1");
  t.equal(exists.code, 1);
  t.match(exists.stderr, /\/cwd\/llama-localized\.f32\.debiased\.gguf already exists.*\[E_DST_EXISTS\]/, "the default output is in the current directory");
  t.notMatch(exists.stderr, /measuring/, "refused before measuring anything");
  const missing = await gguf("run", "-o", join(scratch, "no-such-folder", "out.gguf"), "--threads", "1");
  t.equal(missing.code, 1);
  t.match(missing.stderr, /no-such-folder\) does not exist\. \[E_DST_DIR\]/);
  t.notMatch(missing.stderr, /measuring/);
});

t.test("run never writes its report over the model, and finds a read-only model before any work", async (t) => {
  const model = join(scratch, "report-target.gguf");
  copyFileSync(fixturePath("llama-localized"), model);
  const before = readFileSync(model);
  for (const target of [model, join(scratch, "report-target-link.gguf")]) {
    if (target !== model) symlinkSync(model, target);
    const over = await gguf("run", model, "-o", join(scratch, "report-out.gguf"), "--overwrite", "--report", target, "--threads", "1");
    t.equal(over.code, 1);
    t.match(over.stderr, /The report .*report-target(-link)?\.gguf is the model .*\[E_EDIT_SAME_FILE\]/);
    t.notMatch(over.stderr, /measuring/, "refused before measuring anything");
  }
  const inPlace = await gguf("run", model, "--in-place", "--overwrite", "--report", model, "--threads", "1");
  t.match(inPlace.stderr, /\[E_EDIT_SAME_FILE\]/, "in place too");
  const same = await gguf("run", model, "-o", join(scratch, "twice.gguf"), "--report", join(scratch, "twice.gguf"), "--overwrite", "--threads", "1");
  t.match(same.stderr, /The report .*twice\.gguf and the output .*twice\.gguf are the same file/);
  t.same(readFileSync(model), before, "the model is untouched");
  chmodSync(model, 0o444);
  const readOnly = await gguf("run", model, "--in-place", "--threads", "1");
  t.equal(readOnly.code, 1);
  t.match(readOnly.stderr, /is read-only.*\[E_GGUF_READONLY\]/);
  t.notMatch(readOnly.stderr, /measuring/, "refused before measuring anything");
});

t.test("help, version, no command, an unknown command, errors as JSON", async (t) => {
  const help = await gguf("-h");
  t.equal(help.code, 0);
  t.match(help.stdout, /gguf-debias <command>[\s\S]*run[\s\S]*--json/);
  const version = await gguf("-v");
  t.equal(version.code, 0);
  t.equal(version.stdout.trim(), JSON.parse(readFileSync(join(packageRoot(), "package.json"), "utf8")).version);
  const none = await gguf();
  t.equal(none.code, 2);
  t.match(none.stderr, /Commands:[\s\S]*gguf-debias: Name a command\./, "no command shows the help, then says what is missing");
  const unknown = await gguf("frobnicate");
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, /"frobnicate" is not a command; the commands are inspect, score, locate, edit, undo, eval, compare, run, report/);
  for (const args of [["frobnicate", "--json"], ["run", "--max-kl", "x", "--json"], ["inspect", join(scratch, "none.gguf"), "--json"]]) {
    const result = await gguf(...args);
    t.not(result.code, 0);
    t.match(JSON.parse(result.stdout), { error: { code: /^E_/, message: String } }, `${args.join(" ")} → {error} on stdout`);
  }
});

t.test("--gpu-layers and --gpu: offload where a GPU is, the same numbers where none is, one line for a bad value", async (t) => {
  const model = fixturePath("llama-localized");
  const cpu = await gguf("score", model, "--threads", "1", "--json", "--quiet");
  const offload = await gguf("score", model, "--threads", "1", "--gpu-layers", "-1", "--json", "--quiet");
  t.equal(offload.code, 0, offload.stderr);
  t.equal(offload.stdout, cpu.stdout, "no GPU here: every layer stays on the CPU, and the scores are the CPU's");
  const layers = await gguf("score", model, "--gpu-layers", "-2");
  t.equal(layers.code, 2);
  t.match(layers.stderr, /gpu-layers.*a whole number from -1/);
  const backend = await gguf("score", model, "--gpu", "metal");
  t.equal(backend.code, 2);
  t.match(backend.stderr, /E_USAGE/);
  t.match(backend.stderr, /cuda.*vulkan/);
});
