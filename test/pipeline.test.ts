// The product's promises on models with known ground truth (test/fixtures/manifest.json):
// - localized bias (16 planted FFN neurons): found, the held-out stereotype gap removed, the model kept;
// - distributed bias: an honest "cannot", nothing written;
// - a prior without a stereotype: reported as such, never "removed" by shifting the prior;
// - a model that does not know gender (random weights): "unmeasurable", nothing written; a real one
//   (../shared/models) measured by the bundled story probes;
// - the paper's warning: general neurons cost far more than the neurons selected.
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { Worker } from "node:worker_threads";
import { join } from "node:path";
import t from "tap";
import { causalEffects } from "../lib/locate/causal.js";
import { interventionsFor } from "../lib/locate/neurons.js";
import { sha256File } from "../lib/files.js";
import { scoreBias } from "../lib/measure/metrics.js";
import { run, type RunOptions } from "../lib/pipeline.js";
import { inferredDirections, openSession, scoreOriginal } from "../lib/measure/session.js";
import { selectionBaseline } from "../lib/locate/baseline.js";
import type { RunResult } from "../lib/verify/run-result.js";
import { defaultWorkload } from "../lib/measure/workload.js";
import { packageRoot } from "../lib/package-root.js";
import { fixturePath, manifest, type FixtureType } from "./helpers/fixtures.js";
import { writeSyntheticLlama } from "../bench/synthetic-model.js";
import { preVerdict } from "../lib/verify/verdict.js";

const scratch = mkdtempSync(join(tmpdir(), "gguf-debias-pipeline-"));
t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
const workload = await defaultWorkload("demo");
const results = new Map<string, RunResult>();
const THREADS = { threads: 1 };

async function runOn(name: string, type: FixtureType = "f32", options: RunOptions = {}): Promise<RunResult> {
  const key = `${name}.${type}${options.objective ? `.${options.objective}` : ""}${options.search ? `.${options.search}` : ""}`;
  // "auto", which takes the thorough search on every fixture (their work is far below its allowance).
  if (!results.has(key)) results.set(key, await run(fixturePath(name, type), workload, { output: join(scratch, `${key}.debiased.gguf`), evaluator: THREADS, ...options }));
  return results.get(key)!;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const key = (n: { layer: number; index: number }) => `${n.layer}:${n.index}`;

// Share of the edited neurons that are planted ones, and of the planted ones among the screened candidates.
// The Q4_K llama fixture's planted neurons reach activations of 650–1845 (recipe README), which 4-bit
// quantization of ffn_down's input handles worst (KL vs torch 0.25): other neurons then share the work.
const FLOORS: Record<string, { precision: number; pool: number }> = {
  "llama-localized.f32": { precision: 0.8, pool: 0.8 },
  "gpt2-localized.f32": { precision: 0.8, pool: 0.5 },
  "llama-localized.q4_k": { precision: 0.4, pool: 0.8 },
};

for (const name of ["llama-localized", "gpt2-localized"]) {
  for (const type of ["f32", "q4_k"] as const) {
    const floor = FLOORS[`${name}.${type}`];
    if (!floor) continue;
    t.test(`${name} ${type}: the planted stereotype is removed on held-out words, the model kept`, async (t) => {
      const result = await runOn(name, type);
      const designated = new Set(manifest.models[name]!.designatedNeurons!.map(key));
      const edited = result.edited.map(key);
      const planted = edited.filter((k) => designated.has(k)).length;
      const screened = result.neurons.filter((n) => designated.has(key(n))).length;
      t.ok(result.written, `written to ${result.file}`);
      t.equal(result.verdict.kind, "removed", result.verdict.sentence);
      const gap = (r: RunResult["before"]) => r.splits.heldout.stereotypeGap!;
      const reduction = 1 - Math.abs(gap(result.after)) / Math.abs(gap(result.before));
      t.ok(reduction >= 0.8, `held-out stereotype gap ${gap(result.before).toFixed(3)} → ${gap(result.after).toFixed(3)} nats (−${(100 * reduction).toFixed(1)}%)`);
      t.equal(result.verdict.reduction, reduction, "the verdict is computed from the verified file's numbers");
      t.match(result.verdict.sentence, new RegExp(`−${(100 * reduction).toFixed(1)}%`));
      t.ok(planted >= floor.precision * edited.length, `${planted} of the ${edited.length} edited neurons are planted ones (floor ${floor.precision})`);
      t.ok(screened >= floor.pool * designated.size, `${screened} of the ${designated.size} planted neurons among the ${result.neurons.length} screened candidates (floor ${floor.pool})`);
      t.equal(result.after.factualAccuracy, result.before.factualAccuracy, `factual accuracy kept at ${result.before.factualAccuracy}`);
      t.ok(result.after.factualMargin! >= 0.8 * result.before.factualMargin!, `factual margin ${result.before.factualMargin!.toFixed(3)} → ${result.after.factualMargin!.toFixed(3)} (≥ 80%)`);
      t.ok(result.eval.kl <= 0.02, `KL on neutral text ${result.eval.kl.toExponential(2)} ≤ 0.02 nats`);
      const total = manifest.models[name]!.config.nLayer * manifest.models[name]!.config.nFf;
      t.ok(result.edited.length <= 0.02 * total, `${result.edited.length} of ${total} FFN neurons edited (≤ 2%)`);
      const random = result.randomSets!.heldout!;
      t.ok(random.z! >= 2 && random.p <= 1 / (result.randomSets!.sets + 1) + 1e-12, `vs ${result.randomSets!.sets} random sets: gain ${random.gain.toFixed(3)} vs ${random.randomMean.toFixed(3)} ± ${random.randomStd.toFixed(3)}, z ${random.z!.toFixed(1)}, p ${random.p.toFixed(3)}`);
      t.ok(result.selection!.pareto.some((p) => p.chosen), "the chosen set is on the reported Pareto front");
      t.ok(result.cost.passes > 0 && Object.keys(result.cost.stages).length > 0, `${result.cost.passes} probe passes`);
    });
  }
}

// The fast search ranks candidates by direct effect and measures only sets: about 15 passes for the whole
// run instead of hundreds. It misses what acts only through later layers (gpt2's planted 1:41 and 1:124),
// so the edit holds fewer planted neurons there, yet the held-out stereotype still goes.
for (const [name, type] of [["llama-localized", "f32"], ["llama-localized", "q4_k"], ["gpt2-localized", "f32"]] as const) {
  t.test(`${name} ${type}, fast search: removed on held-out words within 15 passes, the model kept`, async (t) => {
    const result = await runOn(name, type, { search: "fast" });
    t.equal(result.selection!.search, "fast");
    t.equal(result.locate, null, "no single-neuron screen");
    t.ok(result.neurons.every((n) => n.dla > 0 && n.causal === undefined), `${result.neurons.length} candidates ranked by direct effect alone`);
    t.equal(result.verdict.kind, "removed", result.verdict.sentence);
    const gap = (r: RunResult["before"]) => r.splits.heldout.stereotypeGap!;
    const reduction = 1 - Math.abs(gap(result.after)) / Math.abs(gap(result.before));
    t.ok(reduction >= 0.8, `held-out stereotype gap ${gap(result.before).toFixed(3)} → ${gap(result.after).toFixed(3)} nats (−${(100 * reduction).toFixed(1)}%)`);
    t.ok(result.cost.passes <= 15, `${result.cost.passes} passes (${result.cost.tokens} tokens, ${result.cost.tokensPerPass} a pass)`);
    t.ok(result.selection!.passes >= 3, `${result.selection!.passes} sets measured by the search, what the rest of the run left of 15 passes`);
    const designated = new Set(manifest.models[name]!.designatedNeurons!.map(key));
    const planted = result.edited.filter((n) => designated.has(key(n))).length;
    t.ok(planted >= 0.6 * result.edited.length, `${planted} of the ${result.edited.length} edited neurons are planted ones`);
    t.equal(result.after.factualAccuracy, result.before.factualAccuracy, "factual accuracy kept");
    t.ok(result.after.factualMargin! >= 0.8 * result.before.factualMargin!, `factual margin ${result.before.factualMargin!.toFixed(3)} → ${result.after.factualMargin!.toFixed(3)}`);
    t.ok(result.eval.kl <= 0.02, `KL ${result.eval.kl.toExponential(2)}`);
    t.ok(result.randomSets!.heldout!.z! >= 2, `z ${result.randomSets!.heldout!.z!.toFixed(1)} against ${result.randomSets!.sets} random sets`);
  });
}

for (const name of ["llama-distributed", "gpt2-distributed"]) {
  t.test(`${name}, fast search: still an honest "cannot"`, async (t) => {
    const result = await runOn(name, "f32", { search: "fast" });
    t.equal(result.verdict.kind, "not-localized", result.verdict.sentence);
    t.notOk(result.written, "nothing written");
    t.ok(result.cost.passes <= 15, `${result.cost.passes} passes`);
  });
}

// The gpt2 fixture's planted neurons do not survive 4-bit quantization (activations up to 1845; KL vs
// torch 2.3 nats): the Q4_K file no longer holds the planted stereotype, and the tool must say so.
t.test("gpt2-localized q4_k: quantization erased the planted stereotype, and the tool says there is none", async (t) => {
  const f32 = await runOn("gpt2-localized");
  const result = await runOn("gpt2-localized", "q4_k");
  t.ok(Math.abs(result.before.stereotypeGap!) < 0.25 * Math.abs(f32.before.stereotypeGap!), `stereotype gap ${result.before.stereotypeGap!.toFixed(3)} ± ${result.before.stereotypeGapSe!.toFixed(3)} nats (F32: ${f32.before.stereotypeGap!.toFixed(3)})`);
  t.equal(result.verdict.kind, "absent", result.verdict.sentence);
  t.notOk(result.written, "nothing written");
});

for (const name of ["llama-distributed", "gpt2-distributed"]) {
  t.test(`${name}: an honest "cannot", nothing written`, async (t) => {
    const result = await runOn(name);
    t.equal(result.verdict.kind, "not-localized", result.verdict.sentence);
    t.match(result.verdict.sentence, /not (held by|localized in) FFN neurons/);
    t.notOk(result.written, "no file written");
    t.notOk(existsSync(join(scratch, `${name}.f32.debiased.gguf`)), "no output file on disk");
    t.same(result.edited, [], "nothing edited");
    t.equal(result.eval.kl, 0, "KL 0: the model is the original");
    t.same(result.after, result.before);
  });
}

t.test("a prior without a stereotype is reported as such, and removed only when asked", { skip: manifest.models["llama-prior"] ? false : "no llama-prior fixture in the manifest" }, async (t) => {
  const result = await runOn("llama-prior");
  const { stereotypeGap, stereotypeGapSe, priorSkew } = result.before;
  t.ok(Math.abs(priorSkew!) >= 1, `prior skew ${priorSkew!.toFixed(3)} nats`);
  t.ok(Math.abs(stereotypeGap!) <= 2 * stereotypeGapSe!, `stereotype gap ${stereotypeGap!.toFixed(3)} ± ${stereotypeGapSe!.toFixed(3)}: within its noise`);
  t.equal(result.verdict.kind, "absent", result.verdict.sentence);
  t.match(result.verdict.sentence, /prior skew/);
  t.notOk(result.written, "nothing written");
  const prior = await runOn("llama-prior", "f32", { objective: "prior" });
  t.ok(prior.verdict.kind === "removed" || prior.verdict.kind === "reduced", prior.verdict.sentence);
  t.ok(Math.abs(prior.after.splits.heldout.priorSkew!) < 0.5 * Math.abs(prior.before.splits.heldout.priorSkew!), `held-out prior ${prior.before.splits.heldout.priorSkew!.toFixed(3)} → ${prior.after.splits.heldout.priorSkew!.toFixed(3)}`);
  t.ok(Math.abs(prior.after.stereotypeGap!) <= 2 * prior.after.stereotypeGapSe! + 0.1, "no stereotype appears on the way");
});

t.test("a model with random weights does not know gender: unmeasurable, nothing written, the model untouched", async (t) => {
  const model = join(scratch, "random.gguf");
  await writeSyntheticLlama(model, { nLayer: 2, nEmbd: 64, nFf: 128, nHead: 4 });
  const before = await sha256File(model);
  const output = join(scratch, "random.debiased.gguf");
  const result = await run(model, workload, { output, evaluator: THREADS });
  t.equal(result.verdict.kind, "unmeasurable", result.verdict.sentence);
  t.ok(result.before.factualAccuracy! < 0.75, `factual accuracy against the baseline ${result.before.factualAccuracy}`);
  t.match(result.verdict.sentence, new RegExp(`accuracy ${(100 * result.before.factualAccuracy!).toFixed(1)}%`));
  t.notOk(result.written);
  t.notOk(existsSync(output), "no output file");
  t.equal(await sha256File(model), before, "the model is untouched");
});

const REAL = join(packageRoot(), "..", "shared", "models");
for (const file of ["TinyStories-656K.f16.gguf", "TinyStories-656K-Q8_0.gguf"]) {
  t.test(`real model ${file}: the bundled story probes measure its gender knowledge and its stereotype`, { skip: existsSync(join(REAL, file)) ? false : "../shared/models is absent" }, async (t) => {
    const session = await openSession(join(REAL, file), await defaultWorkload(join(packageRoot(), "data", "tinystories.json")), THREADS);
    t.teardown(() => session.model.dispose());
    const { score } = await scoreOriginal(session);
    t.equal(preVerdict(score, "stereotype"), null, "measurable, with a stereotype to remove");
    for (const split of ["selection", "heldout"] as const) {
      const m = score.splits[split];
      t.ok(m.factualAccuracy! >= 0.7, `${split}: factual accuracy against the baseline ${m.factualAccuracy!.toFixed(3)} (raw sign ${m.factualAccuracyRaw!.toFixed(3)})`);
      t.ok(m.stereotypeGap! >= 1.5 * m.stereotypeGapSe!, `${split}: stereotype gap ${m.stereotypeGap!.toFixed(3)} ± ${m.stereotypeGapSe!.toFixed(3)}`);
    }
    t.ok(score.stereotypeGap! >= 2 * score.stereotypeGapSe!, `all probes: stereotype gap ${score.stereotypeGap!.toFixed(3)} ± ${score.stereotypeGapSe!.toFixed(3)}`);
    t.ok(score.splits.heldout.factualAccuracy! >= 0.8, "held-out factual accuracy ≥ 80%");
    t.ok(score.splits.heldout.stereotypeGap! >= 3 * score.splits.heldout.stereotypeGapSe!, "held-out gap ≥ 3 standard errors");
  });
}

t.test("the paper's warning: general neurons are expensive and erode factual gender", async (t) => {
  const name = "llama-localized";
  const result = await runOn(name);
  const general = result.neurons.filter((n) => n.kind === "general");
  t.ok(general.length > 0, `${general.length} general neurons found`);
  const cost = (n: RunResult["neurons"][number]) => n.causal!.kl / Math.max(-n.causal!.dLoss, 1e-6);
  const selected = result.neurons.filter((n) => result.edited.some((e) => key(e) === key(n)));
  t.ok(median(general.map(cost)) >= 10 * median(selected.map(cost)), `KL per nat removed: general ${median(general.map(cost)).toExponential(2)} vs selected ${median(selected.map(cost)).toExponential(2)}`);
  const session = await openSession(fixturePath(name), workload, THREADS);
  t.teardown(() => session.model.dispose());
  const base = await selectionBaseline(session, "stereotype", await scoreOriginal(session));
  const [zeroed] = await causalEffects(session.evaluator, base, [general]);
  t.ok(zeroed!.kl > 10 * result.eval.kl, `zeroing them costs KL ${zeroed!.kl.toExponential(2)} against ${result.eval.kl.toExponential(2)} for the chosen edit`);
});

t.test("the edit equals zeroing the same neurons through the hook", async (t) => {
  const result = await runOn("llama-localized");
  const session = await openSession(fixturePath("llama-localized"), workload, THREADS);
  t.teardown(() => session.model.dispose());
  const { scoreOptions } = await scoreOriginal(session);
  const hooked = session.probes.scoreOf(await session.probes.measure(session.evaluator, interventionsFor(result.edited)), scoreOptions);
  t.same(hooked, result.after, "held-out and selection scores identical");
  // The prediction was measured in batches shared with the random sets; llama.cpp's sums depend on the
  // batch layout in the last bits (≤ 1e-5 per log-prob on these fixtures).
  const gaps = (s: RunResult["after"]) => [s.splits.selection.stereotypeGap!, s.splits.heldout.stereotypeGap!, s.factualMargin!];
  gaps(result.predicted!).forEach((v, i) => t.ok(Math.abs(v - gaps(result.after)[i]!) < 1e-4, `predicted before writing ${v.toFixed(6)} = measured on the file ${gaps(result.after)[i]!.toFixed(6)}`));
});

t.test("same input, same output, on an idle or a busy machine", async (t) => {
  const first = await runOn("gpt2-localized");
  t.equal(first.selection?.search, "thorough", "auto chose the thorough search");
  // A second run while a busy loop keeps a core busy (a worker thread: terminated for sure, unlike a
  // child process under tap's process tracking): nothing the run decides may follow the load.
  const hog = new Worker("for (;;);", { eval: true });
  t.teardown(() => hog.terminate());
  const again = await run(fixturePath("gpt2-localized"), workload, { output: join(scratch, "again.gguf"), evaluator: THREADS });
  await hog.terminate();
  // everything but timings, memory and where the output went; the written bytes must be the same
  const stable = (r: RunResult) => ({
    ...r,
    file: null,
    cost: { passes: r.cost.passes, tokensPerPass: r.cost.tokensPerPass, tokens: r.cost.tokens, stages: Object.values(r.cost.stages).map(({ passes, tokens }) => ({ passes, tokens })) },
    provenance: { ...r.provenance, startedAt: null, output: r.provenance.output && { path: null, sha256: r.provenance.output.sha256 } },
  });
  t.same(stable(again), stable(first));
});

t.test("a dataset without directions takes each stereotyped word's from the original model, against its baseline", async (t) => {
  const probe = (word: string, label: "stereotyped" | "neutral", split: "selection" | "heldout", template: string) => ({ word, category: "c", label, split, template, target: "x", baseline: label === "neutral" });
  // Baseline −2 in template s: "nurse" at −1 leans female against it although its b is negative.
  const score = scoreBias(
    [probe("kid", "neutral", "selection", "s"), probe("nurse", "stereotyped", "selection", "s"), probe("nurse", "stereotyped", "heldout", "h"), probe("kid", "neutral", "heldout", "h"), probe("pilot", "stereotyped", "selection", "s")],
    [-2, -1, 0.5, 0, -3],
  );
  t.same([...inferredDirections(score)], [["nurse", "female"], ["pilot", "male"]]);
});

t.test("a neutral text file is read only up to 1 MiB, so a huge line is never tokenized", async (t) => {
  const { readNeutralText } = await import("../lib/measure/workload.js");
  const { truncateSync, writeFileSync } = await import("node:fs");
  const file = join(t.testdir(), "long.txt");
  writeFileSync(file, "");
  truncateSync(file, 10 * 2 ** 20);
  await t.rejects(readNeutralText(file), { code: "E_FILE_TOO_LARGE", message: /^The neutral text file .*long\.txt is 10\.0 MiB, more than the 1\.0 MiB it may be\.$/ });
});

t.test("an AbortSignal cancels a run cleanly before anything is written", async (t) => {
  const dir = t.testdir();
  const output = join(dir, "cancelled.gguf");
  const controller = new AbortController();
  const labels: string[] = [];
  const cancelled = run(fixturePath("llama-localized"), workload, {
    output, evaluator: THREADS, search: "thorough", candidates: 12, randomNeurons: 8, signal: controller.signal,
    onProgress: (label) => {
      labels.push(label);
      if (label.startsWith("zeroing")) controller.abort(new Error("the user pressed stop"));
    },
  });
  await t.rejects(cancelled, { code: "E_ABORTED", message: "The run was cancelled before anything was written." });
  t.ok(labels.some((l) => l.startsWith("zeroing")) && !labels.some((l) => l.startsWith("writing")), "stopped while locating");
  t.same(readdirSync(dir), [], "no output, no temporary copy");
  await t.rejects(run(fixturePath("llama-localized"), workload, { output, evaluator: THREADS, signal: AbortSignal.abort() }), { code: "E_ABORTED", message: /before it started/ });
});

t.test("a library run without output or inPlace writes nothing, and says so", async (t) => {
  const dir = t.testdir();
  const model = join(dir, "model.gguf");
  copyFileSync(fixturePath("llama-localized"), model);
  const before = await sha256File(model);
  const cwd = process.cwd();
  process.chdir(dir);
  t.teardown(() => process.chdir(cwd));
  const result = await run(model, workload, { evaluator: THREADS, search: "fast" });
  t.equal(result.written, false);
  t.equal(result.verdict.kind, "removed", "the verdict is the hook's: the planted stereotype would go");
  t.match(result.verdict.sentence, /No output was asked for \(output or inPlace\), so nothing was written/);
  t.ok(result.predicted && result.predicted.splits.heldout.stereotypeGap! < 0.2 * result.before.splits.heldout.stereotypeGap!, "the prediction is there to read");
  t.same(readdirSync(dir), ["model.gguf"], "no file in the working directory, no journal");
  t.equal(await sha256File(model), before, "the model is untouched");
});
