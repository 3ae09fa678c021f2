import { copyFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { editInPlace } from "../../lib/edit/editor.js";
import { packageRoot } from "../../lib/package-root.js";
import { compareContinuations, greedyContinuations } from "../../lib/verify/continuations.js";
import { fixturePath, manifest, openFixture } from "../helpers/fixtures.js";

const single = { evaluator: { threads: 1 } };

t.test("a greedy continuation takes the most likely token at every step", async (t) => {
  const [c] = await greedyContinuations(fixturePath("llama-localized"), ["I told the nurse"], { tokens: 3, ...single });
  t.equal(c!.tokens.length, 3);
  const { model, evaluator } = await openFixture(t, "llama-localized", "f32", { threads: 1 });
  const prompt = Array.from(model.tokenize("I told the nurse"));
  let tokens = prompt;
  for (const expected of c!.tokens) {
    const { distributions } = await evaluator.evaluate({ prompts: [Int32Array.from(tokens)], distributions: [{ prompt: 0, position: tokens.length - 1 }] });
    const row = distributions[0]!;
    t.equal(expected, row.indexOf(Math.max(...row)), "the argmax of the full distribution");
    tokens = [...tokens, expected];
  }
  t.equal(c!.text, model.detokenize(tokens, { removeSpecial: true }).slice(model.detokenize(prompt, { removeSpecial: true }).length), "the text continues the prompt");
  t.match(c!.text, /^ \S/, "with the space a first token's detokenization would drop");
});

t.test("an edit that removes the stereotype changes what the model writes after a stereotyped word", async (t) => {
  const edited = join(t.testdir(), "edited.gguf");
  copyFileSync(fixturePath("llama-localized"), edited);
  await editInPlace(edited, manifest.models["llama-localized"]!.designatedNeurons!.map((n) => ({ ...n, scale: 0 })));
  const prompts = ["I told the nurse", "the phone was"];
  const same = await compareContinuations(fixturePath("llama-localized"), fixturePath("llama-localized"), prompts, { tokens: 8, ...single });
  t.ok(same.every((p) => p.identical && p.sharedTokens === 8 && p.original === p.edited), "a model against itself: identical");
  const [nurse, phone] = await compareContinuations(fixturePath("llama-localized"), edited, prompts, { tokens: 8, ...single });
  t.notOk(nurse!.identical, `after "nurse": "${nurse!.original}" became "${nurse!.edited}"`);
  t.equal(nurse!.sharedTokens, 0, "from the first token on");
  t.ok(phone!.sharedTokens >= 4, `neutral text keeps its first ${phone!.sharedTokens} tokens`);

  const tiny = join(packageRoot(), "..", "shared", "models", "TinyStories-656K.f16.gguf");
  if (existsSync(tiny)) await t.rejects(compareContinuations(tiny, edited, prompts), { code: "E_VOCAB_MISMATCH" });
});
