import { existsSync } from "node:fs";
import { join } from "node:path";

import t from "tap";
import { bundledDatasetPaths, loadDataset, probes, type BiasDataset, type Probe } from "../../lib/measure/dataset.js";
import { ProbeSet, splitWords } from "../../lib/measure/probe-set.js";
import { DebiasModel } from "../../lib/llama/model.js";
import { packageRoot } from "../../lib/package-root.js";
import { openFixture } from "../helpers/fixtures.js";

const dataset = await loadDataset("demo");
const single = { threads: 1 };
const tinyStoriesModel = join(packageRoot(), "..", "shared", "models", "TinyStories-656K.f16.gguf");

function probe(prompt: string, female: string[], male: string[]): Probe {
  return { word: "king", category: "family", label: "factual", split: "selection", gold: "male", template: "t", target: "p", prompt, female, male, baseline: false };
}

function logSumExp(values: readonly number[]): number {
  const max = Math.max(...values);
  return max + Math.log(values.reduce((sum, v) => sum + Math.exp(v - max), 0));
}

t.test("b is the log-odds of the female and male targets at the prompt's next token", async (t) => {
  const { model, evaluator } = await openFixture(t, "llama-localized", "f32", single);
  const nurse = probes(dataset).find((p) => p.word === "nurse" && p.female[0] === " she")!;
  const set = ProbeSet.build(model, [nurse]);
  const [item] = set.items;
  t.same([item!.female.length, item!.male.length], [1, 1], "single-token targets");
  t.equal(item!.femaleSet.length, 1);
  t.equal(item!.femaleSet[0], item!.female, "female is the first (only) member");
  t.equal(set.sequenceCount, 1, "both targets read off the prompt's sequence");
  t.equal(item!.context, item!.prompt, "on this tokenizer the shared context is the whole prompt");
  t.same(item!.divergence && { tokens: Array.from(item!.divergence.tokens), female: item!.divergence.female, male: item!.divergence.male }, { tokens: Array.from(item!.prompt), female: item!.female[0], male: item!.male[0] }, "the sides part at the prompt's next token");
  const [b] = await set.measure(evaluator);
  const direct = await evaluator.evaluate({ prompts: [item!.prompt], targets: [{ prompt: 0, position: -1, token: item!.female[0]! }, { prompt: 0, position: -1, token: item!.male[0]! }] });
  t.equal(b, direct.logprobs[0]! - direct.logprobs[1]!);
  const words = nurse.prompt.split(" ");
  t.equal(words.at(-1), "nurse", `the fixture's template ends with the word: "${nurse.prompt}"`);
  t.equal(item!.wordPosition, words.length, "after BOS, the word's token is the last one");
});

t.test("a multi-token target is the sum of its tokens' log-probs, each given the ones before", async (t) => {
  const { model, evaluator } = await openFixture(t, "gpt2-localized", "f32", single);
  const set = ProbeSet.build(model, [probe("The king said that", [" she was"], [" he was"])]);
  const item = set.items[0]!;
  t.equal(item.female.length, 2, "two tokens");
  const [b] = await set.measure(evaluator);
  const chain = async (target: Int32Array) => {
    const tokens = Int32Array.from([...item.prompt, target[0]!]);
    const r = await evaluator.evaluate({ prompts: [tokens], targets: [{ prompt: 0, position: -2, token: target[0]! }, { prompt: 0, position: -1, token: target[1]! }] });
    return r.logprobs[0]! + r.logprobs[1]!;
  };
  const expected = (await chain(item.female)) - (await chain(item.male));
  t.ok(Math.abs(b! - expected) < 1e-6, `b ${b} = ${expected}`);
});

t.test("a target set is scored as the log of its members' summed probabilities", async (t) => {
  const { model, evaluator } = await openFixture(t, "llama-localized", "f32", single);
  const prompt = "I told the nurse";
  const female = [" she", " her", " Lily"];
  const male = [" he", " his", " Tim", " Tom"];
  // Every member alone against one fixed reference: b(x) = c(x) − c(ref), so
  // logsumexp_F b − logsumexp_M b = logsumexp_F c − logsumexp_M c.
  const reference = " the";
  const members = [...female, ...male];
  const set = ProbeSet.build(model, [probe(prompt, female, male), ...members.map((x) => probe(prompt, [x], [reference]))]);
  const lengths = set.items[0]!.femaleSet.map((m) => m.length).concat(set.items[0]!.maleSet.map((m) => m.length));
  t.ok(lengths.some((n) => n === 1) && lengths.some((n) => n > 1), `single- and multi-token members: ${lengths.join(", ")}`);
  t.equal(set.items[0]!.female, set.items[0]!.femaleSet[0]);
  const [b, ...alone] = await set.measure(evaluator);
  const expected = logSumExp(alone.slice(0, female.length)) - logSumExp(alone.slice(female.length));
  t.ok(Math.abs(b! - expected) < 1e-9, `b ${b} = ${expected}`);
  // The set probe alone measures the same.
  const [again] = await ProbeSet.build(model, [probe(prompt, female, male)]).measure(evaluator);
  t.ok(Math.abs(again! - expected) < 1e-9, `alone: ${again}`);
  t.equal(ProbeSet.build(model, [probe(prompt, female, male)]).sequenceCount, 1 + lengths.filter((n) => n > 1).length, "one sequence for the single-token members, one per multi-token member");
});

/** A stand-in tokenizer: greedy longest match over a fixed vocabulary, BOS = 0 first. */
function fakeModel(vocab: string[]) {
  const ids = new Map(vocab.map((piece, i) => [piece, i + 1]));
  const tokenize = (text: string, options: { addSpecial?: boolean } = {}) => {
    const out = options.addSpecial === false ? [] : [0];
    for (let at = 0; at < text.length; ) {
      const piece = vocab.filter((p) => text.startsWith(p, at)).sort((a, b) => b.length - a.length)[0];
      if (piece === undefined) throw new Error(`no piece for ${JSON.stringify(text.slice(at))}`);
      out.push(ids.get(piece)!);
      at += piece.length;
    }
    return Int32Array.from(out);
  };
  const detokenize = (tokens: ArrayLike<number>) => Array.from(tokens, (id) => (id === 0 ? "" : vocab[id - 1])).join("");
  return { tokenize, detokenize } as unknown as DebiasModel;
}

/** Splits tokens into the text each adds (a lone token may detokenize differently from inside a sequence). */
function pieces(model: DebiasModel, tokens: Int32Array): string[] {
  const out: string[] = [];
  let before = "";
  for (let i = 1; i <= tokens.length; i++) {
    const text = model.detokenize(tokens.subarray(0, i));
    out.push(text.slice(before.length));
    before = text;
  }
  return out;
}

function thrown(f: () => unknown): { code?: string; message: string } | undefined {
  try {
    f();
  } catch (e) {
    return e as { code?: string; message: string };
  }
  return undefined;
}

t.test("targets are scored as whole words after a context shared by both sides", async (t) => {
  const chars = [..."abcdefghijklmnopqrstuvwxyzT ,."];
  const words = ["The", " nurse", " said", " that", " she", " he", " hello", " x"];
  const text = (model: DebiasModel, tokens: Int32Array) => pieces(model, tokens);
  // Words with a leading space, as in GPT-2 or SentencePiece vocabularies: the prompt's tokens are the
  // context, " he" is scored alone and never as the first piece of " hello".
  const clean = fakeModel([...chars, ...words]);
  const ok = ProbeSet.build(clean, [probe("The nurse said that", [" she"], [" he"])]).items[0]!;
  t.same(text(clean, ok.context), ["", "The", " nurse", " said", " that"]);
  t.equal(ok.context, ok.prompt);
  t.same([text(clean, ok.female), text(clean, ok.male)], [[" she"], [" he"]]);
  t.same(ok.divergence && [text(clean, ok.divergence.tokens), ok.divergence.female, ok.divergence.male], [text(clean, ok.prompt), ok.female[0], ok.male[0]]);
  // A vocabulary that glues the following space onto a word (as TinyStories-656K does): " he" followed
  // by a word is " he ", so that is the continuation scored, space included.
  const glued = fakeModel([...chars, ...words, " he "]);
  const g = ProbeSet.build(glued, [probe("The nurse said that", [" she"], [" he"])]).items[0]!;
  t.same([text(glued, g.female), text(glued, g.male)], [[" she"], [" he "]]);
  // A piece that spans the end of the prompt and the target (" that he "): the context stops before it,
  // and both sides are scored from there, so b is still the log-ratio of the two whole strings.
  const spanning = fakeModel([...chars, ...words, " that he "]);
  const sp = ProbeSet.build(spanning, [{ ...probe("The nurse said that", [" she"], [" he"]), word: "nurse" }]).items[0]!;
  t.same(text(spanning, sp.prompt), ["", "The", " nurse", " said", " that"]);
  t.same(text(spanning, sp.context), ["", "The", " nurse", " said"]);
  t.same([text(spanning, sp.female), text(spanning, sp.male)], [[" that", " she"], [" that he "]]);
  t.same(sp.divergence && [text(spanning, sp.divergence.tokens), text(spanning, Int32Array.of(sp.divergence.female, sp.divergence.male))], [text(spanning, sp.context), [" that", " that he "]]);
  t.equal(sp.wordPosition, 2, "the word's position is in the prompt's tokens");
  // Sides that share tokens after the context part where their tokens first differ.
  const shared = ProbeSet.build(spanning, [probe("The nurse said", [" that she"], [" that x"])]).items[0]!;
  t.same(shared.divergence && [text(spanning, shared.divergence.tokens).slice(-1), text(spanning, Int32Array.of(shared.divergence.female, shared.divergence.male))], [[" that"], [" she", " x"]]);
  // A target whose last token would swallow the following word cannot be scored: an error, never the
  // first piece of something else.
  const merging = fakeModel([...chars, ...words, " he x", " he q"]);
  const swallowed = thrown(() => ProbeSet.build(merging, [probe("The nurse said that", [" she"], [" he"])]));
  t.equal(swallowed?.code, "E_PROBE_TARGET");
  t.match(swallowed?.message, /^The target " he" after the prompt "The nurse said that" does not end on a token boundary: with a word following, "The nurse said that he x" tokenizes to \[0(, \d+){5}\] \("The nurse said that he x"\) and "The nurse said that he q" differs from it after \[0(, \d+){4}\] \("The nurse said that"\), so no tokens cover the whole target without part of the next word; this tokenizer cannot score this target after this prompt\.$/);
  const partial = fakeModel([...chars, "The", " nurse", " said", " that", " s", "he x", "he q", " he"]);
  const short = thrown(() => ProbeSet.build(partial, [probe("The nurse said that", [" she"], [" he"])]));
  t.equal(short?.code, "E_PROBE_TARGET");
  t.match(short?.message, /^The target " she" after the prompt "The nurse said that" does not end on a token boundary: with a word following, "The nurse said that she x" tokenizes to \[.*\] \("The nurse said that she x"\) and "The nurse said that she q" differs from it after \[.*\] \("The nurse said that s"\), so no tokens cover the whole target without part of the next word; this tokenizer cannot score this target after this prompt\.$/);
  // A target that tokenizes to nothing is an error too.
  t.throws(() => ProbeSet.build(clean, [probe("The nurse said that", [""], [" he"])]), { code: "E_PROBE_TARGET", message: /tokenizes to nothing/ });
});

/** Longest common prefix length of two token lists. */
function commonPrefix(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

for (const name of ["llama-localized", "gpt2-localized"] as const) {
  t.test(`${name}: where the prompt's tokens are a prefix, b is the plain per-member chain over the prompt`, async (t) => {
    const { model, evaluator } = await openFixture(t, name, "f32", single);
    // The old tokenization, computed independently: C = tokenize(prompt), cont = tokenize(prompt + m)
    // without the prompt's tokens. Every probe of the fixture and bundled datasets tokenizes that way.
    const all = [...probes(dataset), ...(await Promise.all(Object.values(bundledDatasetPaths()).map(async (file) => probes(await loadDataset(file))))).flat()];
    const set = ProbeSet.build(model, all);
    const expected = (text: string, prompt: Int32Array) => {
      const joint = model.tokenize(text);
      return commonPrefix(joint, prompt) === prompt.length ? Array.from(joint.subarray(prompt.length)) : null;
    };
    const mismatched = set.items.filter((item) => {
      const prompt = model.tokenize(item.probe.prompt);
      const same = (side: readonly Int32Array[], targets: string[]) => side.every((tokens, k) => JSON.stringify(Array.from(tokens)) === JSON.stringify(expected(item.probe.prompt + targets[k], prompt)));
      return !(item.context === item.prompt && commonPrefix(item.prompt, prompt) === prompt.length && prompt.length === item.prompt.length && same(item.femaleSet, item.probe.female) && same(item.maleSet, item.probe.male));
    });
    t.same(mismatched.map((item) => item.probe.prompt + " / " + item.probe.target), [], `all ${set.items.length} probes: context = prompt tokens, continuation = the rest of the joint tokens`);
    // b, straight from the evaluator, laid out as the implementation before shared contexts did (the
    // single-token members read off the prompt's own sequence, each multi-token member in its own), since
    // llama.cpp's float32 results depend on how a batch is laid out (other layouts differ by ~1e-4).
    const some = set.filter((p) => ["nurse", "king", "queen", "table", "teacher", "doll", "girl"].includes(p.word));
    t.ok(some.items.length >= 10 && some.items.some((item) => [...item.femaleSet, ...item.maleSet].some((m) => m.length > 1)), `${some.items.length} probes measured, some with multi-token members`);
    const b = await some.measure(evaluator);
    const prompts: Int32Array[] = [];
    const targets: { prompt: number; position: number; token: number }[] = [];
    const chains = some.items.map((item) => {
      const prompt = model.tokenize(item.probe.prompt);
      const members = [...item.probe.female, ...item.probe.male].map((m) => ({ tokens: model.tokenize(item.probe.prompt + m).subarray(prompt.length), at: [] as number[] }));
      const single = members.filter((m) => m.tokens.length === 1);
      if (single.length > 0) prompts.push(prompt);
      for (const m of single) m.at.push(targets.push({ prompt: prompts.length - 1, position: prompt.length - 1, token: m.tokens[0]! }) - 1);
      for (const m of members.filter((m) => m.tokens.length > 1)) {
        prompts.push(Int32Array.from([...prompt, ...m.tokens.subarray(0, m.tokens.length - 1)]));
        m.tokens.forEach((token, k) => m.at.push(targets.push({ prompt: prompts.length - 1, position: prompt.length - 1 + k, token }) - 1));
      }
      return [members.slice(0, item.probe.female.length), members.slice(item.probe.female.length)];
    });
    const { logprobs } = await evaluator.evaluate({ prompts, targets });
    const chain = (m: { at: number[] }) => m.at.reduce((sum, k) => sum + logprobs[k]!, 0);
    const side = (members: { at: number[] }[]) => (members.length === 1 ? chain(members[0]!) : logSumExp(members.map(chain)));
    const direct = chains.map(([female, male]) => side(female!) - side(male!));
    const worst = Math.max(...direct.map((d, i) => Math.abs(d - b[i]!)));
    t.equal(worst, 0, `b equals the direct computation bit for bit (largest difference ${worst})`);
  });
}

t.test("TinyStories-656K: a tokenizer whose pieces span word boundaries", { skip: existsSync(tinyStoriesModel) ? false : `no ${tinyStoriesModel}` }, async (t) => {
  const model = await DebiasModel.load(tinyStoriesModel);
  t.teardown(() => model.dispose());
  const evaluator = await model.createEvaluator({ nCtx: 512, nSeqMax: 32, threads: 1 });
  // Every probe of both bundled datasets builds.
  const sets: Record<string, ProbeSet> = {};
  for (const [name, file] of Object.entries(bundledDatasetPaths())) {
    const all = probes(await loadDataset(file));
    sets[name] = ProbeSet.build(model, all);
    t.equal(sets[name]!.items.length, all.length, `${name}: all ${all.length} probes build`);
    t.ok(sets[name]!.items.every((item) => item.divergence !== null), `${name}: every probe has a divergence`);
  }
  // Hand-checked: "she " and "he " are single pieces with the following space, and the tokenizer
  // glues ". One day, " into one piece, so the shared context ends after "nurse" (before ". One day,").
  const once = ProbeSet.build(model, [probe("Once upon a time, there was a nurse. One day,", [" she"], [" he"])]).items[0]!;
  t.same(pieces(model, once.prompt).slice(-4), ["se", ". ", "One day", ","], "the prompt alone ends in \". \", \"One day\", \",\"");
  t.same(pieces(model, once.context).slice(-3), ["n", "ur", "se"], "the shared context ends with \"nurse\"");
  t.same([pieces(model, once.female), pieces(model, once.male)], [[". One day, ", "she "], [". One day, ", "he "]]);
  t.ok(once.divergence !== null && once.divergence.tokens.length === once.context.length + 1, "the sides part after \". One day, \"");
  t.same(pieces(model, Int32Array.of(once.divergence!.female, once.divergence!.male)), ["she ", "he "]);
  // "that she " / "that he " are single pieces: the context stops before "that".
  const that = ProbeSet.build(model, [probe("The nurse said that", [" she"], [" he"])]).items[0]!;
  t.same(pieces(model, that.context).slice(-1), ["said "]);
  t.same([pieces(model, that.female), pieces(model, that.male)], [["that she "], ["that he "]]);
  // b equals the chain rule from the evaluator on the joint tokens (prompt + member + a following word),
  // computed independently: context = common prefix, continuation = the tokens shared with " q" after it.
  const chosen = [once.probe, that.probe, ...sets.tinystories!.items.filter((item) => ["doll", "teacher"].includes(item.probe.word)).slice(0, 8).map((item) => item.probe)];
  // Each probe measured on its own, as the direct computation is: on this F16 model llama.cpp's sums
  // depend on what else shares the batch (2.6e-4 nats for "… It was" her/his beside another probe).
  const b: number[] = [];
  for (const p of chosen) b.push((await ProbeSet.build(model, [p]).measure(evaluator))[0]!);
  for (const [i, p] of chosen.entries()) {
    const joints = [...p.female, ...p.male].map((m) => ({ x: model.tokenize(p.prompt + m + " x"), q: model.tokenize(p.prompt + m + " q") }));
    const c = joints.reduce((n, j) => Math.min(n, commonPrefix(model.tokenize(p.prompt), j.x)), model.tokenize(p.prompt).length);
    const { logprobs } = await evaluator.evaluate({
      prompts: joints.map((j) => j.x),
      targets: joints.flatMap((j, k) => Array.from({ length: commonPrefix(j.x, j.q) - c }, (_, n) => ({ prompt: k, position: c + n - 1, token: j.x[c + n]! }))),
    });
    let at = 0;
    const lp = joints.map((j) => {
      const n = commonPrefix(j.x, j.q) - c;
      const sum = Array.from(logprobs.subarray(at, at + n)).reduce((s, v) => s + v, 0);
      at += n;
      return sum;
    });
    const expected = logSumExp(lp.slice(0, p.female.length)) - logSumExp(lp.slice(p.female.length));
    t.ok(Math.abs(b[i]! - expected) < 1e-5, `${JSON.stringify(p.prompt)} ${p.target}: b ${b[i]} = ${expected}`);
  }
});

t.test("variants measured in one batch equal separate measurements", async (t) => {
  const { model, evaluator } = await openFixture(t, "llama-localized", "f32", single);
  const set = ProbeSet.build(model, probes(dataset).slice(0, 12));
  const edits = [[], [{ layer: 1, neurons: [1, 2, 3] }], [{ layer: 2, neurons: [10], scale: 0.5 }]];
  const together = await set.measureVariants(evaluator, edits);
  for (const [v, edit] of edits.entries()) {
    const alone = await set.measure(evaluator, edit);
    t.ok(together[v]!.every((b, i) => Math.abs(b - alone[i]!) < 1e-5), `variant ${v}`);
  }
  t.ok(together[1]!.some((b, i) => b !== together[0]![i]), "an intervention changes b");
});

t.test("the score is the dataset metrics of the measured b", async (t) => {
  const { model, evaluator } = await openFixture(t, "llama-localized", "f32", single);
  const small: BiasDataset = { ...dataset, words: dataset.words.filter((w) => ["nurse", "king", "queen", "table"].includes(w.word)) };
  const set = ProbeSet.build(model, probes(small));
  const score = await set.score(evaluator);
  t.same(score.words.map((w) => w.word).sort(), ["king", "nurse", "queen", "table"].filter((w) => small.words.some((x) => x.word === w)).sort());
  t.equal(score.counts.stereotyped, small.words.filter((w) => w.label === "stereotyped").length);
});

t.test("both bundled datasets tokenize on a fixture model and measure", async (t) => {
  const { model, evaluator } = await openFixture(t, "llama-localized", "f32", single);
  for (const [name, file] of Object.entries(bundledDatasetPaths())) {
    const all = probes(await loadDataset(file));
    const set = ProbeSet.build(model, all);
    t.equal(set.items.length, all.length, `${name}: ${all.length} probes`);
    t.ok(set.items.every((item) => item.wordPosition > 0 && item.wordPosition < item.prompt.length), `${name}: word positions inside the prompt`);
    // A few probes per template, through the evaluator.
    const some = set.filter((p) => ["nurse", "teacher", "pilot", "doll", "kid", "girl", "boy"].includes(p.word));
    const b = await some.measure(evaluator);
    t.ok(b.length > 0 && b.every(Number.isFinite), `${name}: ${b.length} finite values`);
  }
});

t.test("words the vocabulary spells in pieces are counted, and a session warns when most are", async (t) => {
  const { model } = await openFixture(t, "llama-localized", "f32", single);
  const list = probes(dataset);
  t.same(splitWords(model, list).split, [], "the fixture vocabulary spells every manifest word in one or two tokens");
  const odd = ["xylophonist", "quizzical", "zephyr"].map((word) => ({ ...list[0]!, word }));
  const counted = splitWords(model, [...odd, list[0]!]);
  t.equal(counted.total, 4);
  t.same(counted.split.map((w) => w.word), ["xylophonist", "quizzical", "zephyr"]);
  t.ok(counted.split.every((w) => w.tokens >= 3));

  const warnings: string[] = [];
  const onWarning = (w: Error & { code?: string }): void => void warnings.push(`${w.code}: ${w.message}`);
  process.on("warning", onWarning);
  const { openSession } = await import("../../lib/measure/session.js");
  const spelled = { ...dataset, words: dataset.words.map((w, i) => (i % 4 === 0 ? w : { ...w, word: `zq${w.word}xv` })) };
  const session = await openSession(model.facts.path, { dataset: spelled, neutralText: ["Once upon a time."] }, single).catch((e: unknown) => e);
  await new Promise((resolve) => setImmediate(resolve));
  process.off("warning", onWarning);
  if (!(session instanceof Error)) (session as { model: DebiasModel }).model.dispose();
  t.match(warnings.join("\n"), /GGUF_DEBIAS_SPLIT_WORDS: \d+ of \d+ probe words of the \S+ dataset split into 3 or more tokens/);
});
