// Whole sentences scored on a real model: the sum of each token's log-probability given those before
// it, the same as reading the log-softmax rows at every position, in the order asked, with the chosen
// neurons' hook applied when given.
import { existsSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { DebiasModel } from "../../lib/llama/model.js";
import { packageRoot } from "../../lib/package-root.js";
import { sentenceScorer, spells } from "../../lib/measure/sentence-scorer.js";
import { manifest, openFixture } from "../helpers/fixtures.js";

const TEXTS = ["The nurse said she was tired.", "The mechanic said he was late.", "Here, \"she\" refers to the nurse.", ""];

t.test("a sentence's score is the sum of its tokens' log-probabilities, each given the tokens before it", async (t) => {
  const { model, evaluator } = await openFixture(t, "llama-localized", "f32", { threads: 1 });
  const scores = await sentenceScorer(model, evaluator)(TEXTS);
  for (const [i, text] of TEXTS.entries()) {
    const tokens = model.tokenize(text, { addSpecial: true });
    if (tokens.length < 2) {
      t.equal(scores[i], 0, "a text that is only the BOS token has nothing to score");
      continue;
    }
    const rows = await evaluator.evaluate({ prompts: [tokens], distributions: Array.from({ length: tokens.length - 1 }, (_, k) => ({ prompt: 0, position: k })) });
    const sum = rows.distributions.reduce((s, row, k) => s + row[tokens[k + 1]!]!, 0);
    t.ok(Math.abs(scores[i]! - sum) < 1e-4 * Math.max(1, Math.abs(sum)), `${JSON.stringify(text)}: ${scores[i]} = Σ log-softmax ${sum}`);
    t.ok(scores[i]! < 0, "a real log-probability");
  }
});

t.test("many texts come back in the order asked, the same as scored alone", async (t) => {
  const { model, evaluator } = await openFixture(t, "llama-localized", "f32", { threads: 1 });
  const many = Array.from({ length: 300 }, (_, i) => `${TEXTS[i % 3]} ${"again ".repeat(i % 5)}`.trim());
  const seen: number[] = [];
  const together = await sentenceScorer(model, evaluator, [], (done) => seen.push(done))(many);
  t.same(seen, [0, 128, 256, 300], "progress a group at a time, then done");
  for (const i of [0, 1, 2, 129, 299]) {
    const [alone] = await sentenceScorer(model, evaluator)([many[i]!]);
    t.ok(Math.abs(alone! - together[i]!) < 1e-4, `text ${i}: ${alone} alone, ${together[i]} in the batch`);
  }
});

t.test("with an intervention the scores are the edited model's", async (t) => {
  const { model, evaluator } = await openFixture(t, "llama-localized", "f32", { threads: 1 });
  const neurons = manifest.models["llama-localized"]!.designatedNeurons!;
  const plain = await sentenceScorer(model, evaluator)(TEXTS.slice(0, 3));
  const edited = await sentenceScorer(model, evaluator, [{ layer: neurons[0]!.layer, neurons: neurons.filter((n) => n.layer === neurons[0]!.layer).map((n) => n.index) }])(TEXTS.slice(0, 3));
  t.ok(plain.some((s, i) => s !== edited[i]), "zeroing the planted neurons changes what the model thinks of the sentences");
  t.same(await sentenceScorer(model, evaluator)(TEXTS.slice(0, 3)), plain, "and leaves nothing behind");
});

const story = join(packageRoot(), "..", "shared", "models", "TinyStories-656K.f16.gguf");
t.test("a text with a character the vocabulary lacks is reported as unspellable, not a crash", { skip: existsSync(story) ? false : `${story} is absent` }, async (t) => {
  const model = await DebiasModel.load(story);
  t.teardown(() => model.dispose());
  t.equal(spells(model, "He asked for a raise."), true);
  t.equal(spells(model, "He asked for a 50% raise."), false, "a story model's vocabulary has no %");
  t.throws(() => model.tokenize("He asked for a 50% raise."), { code: "E_TOKENIZE", message: /cannot spell the text "He asked for a 50% raise\."/ });
});
