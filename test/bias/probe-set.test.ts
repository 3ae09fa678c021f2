import t from "tap";
import { datasetFromManifest, probes, type BiasDataset, type Probe } from "../../lib/bias/dataset.js";
import { ProbeSet } from "../../lib/bias/probe-set.js";
import { manifest, openFixture } from "../helpers/fixtures.js";

const dataset = datasetFromManifest(manifest.dataset as Parameters<typeof datasetFromManifest>[0]);

t.test("b is the log-odds of the female and male targets at the prompt's next token", async (t) => {
  const { model, evaluator } = await openFixture(t, "llama-localized");
  const probe = probes(dataset).find((p) => p.word === "nurse" && p.female === " she")!;
  const set = ProbeSet.build(model, [probe]);
  const [item] = set.items;
  t.same([item!.female.length, item!.male.length], [1, 1], "single-token targets");
  const [b] = await set.measure(evaluator);
  const direct = await evaluator.evaluate({ prompts: [item!.prompt], targets: [{ prompt: 0, position: -1, token: item!.female[0]! }, { prompt: 0, position: -1, token: item!.male[0]! }] });
  t.equal(b, direct.logprobs[0]! - direct.logprobs[1]!);
  const words = probe.prompt.split(" ");
  t.equal(words.at(-1), "nurse", `the fixture's template ends with the word: "${probe.prompt}"`);
  t.equal(item!.wordPosition, words.length, "after BOS, the word's token is the last one");
});

t.test("a multi-token target is the sum of its tokens' log-probs, each given the ones before", async (t) => {
  const { model, evaluator } = await openFixture(t, "gpt2-localized");
  const probe: Probe = { word: "king", category: "family", label: "factual", split: "selection", gold: "male", template: "t", prompt: "The king said that", female: " she was", male: " he was" };
  const set = ProbeSet.build(model, [probe]);
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

t.test("variants measured in one batch equal separate measurements", async (t) => {
  const { model, evaluator } = await openFixture(t, "llama-localized");
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
  const { model, evaluator } = await openFixture(t, "llama-localized");
  const small: BiasDataset = { ...dataset, words: dataset.words.filter((w) => ["nurse", "king", "queen", "table"].includes(w.word)) };
  const set = ProbeSet.build(model, probes(small));
  const score = await set.score(evaluator);
  t.same(score.words.map((w) => w.word).sort(), ["king", "nurse", "queen", "table"].filter((w) => small.words.some((x) => x.word === w)).sort());
  t.equal(score.counts.stereotyped, small.words.filter((w) => w.label === "stereotyped").length);
});
