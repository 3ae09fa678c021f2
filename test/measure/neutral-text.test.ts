import t from "tap";
import { compareRuns, defaultNeutralSentences, NeutralText } from "../../lib/measure/neutral-text.js";
import { klDivergence } from "../../lib/measure/metrics.js";
import { manifest, openFixture } from "../helpers/fixtures.js";

const sentences = (manifest.dataset as { neutralText: string[] }).neutralText;

t.test("an unedited model agrees with itself", async (t) => {
  const { model, evaluator } = await openFixture(t, "llama-localized");
  const text = new NeutralText(model, sentences);
  const run = await text.run(evaluator);
  t.same(compareRuns(run, run), { kl: 0, top1Agreement: 1, perplexity: compareRuns(run, run).basePerplexity, basePerplexity: compareRuns(run, run).basePerplexity });
  const nll = -run.nextLogprobs.reduce((s, v) => s + v, 0);
  t.ok(Math.abs(compareRuns(run, run).perplexity - Math.exp(nll / run.nextLogprobs.length)) < 1e-9, "perplexity = exp(mean NLL of the actual next tokens)");
  t.equal(run.rows.length, text.positions.length, "one distribution per predicted position");
});

t.test("KL of many variants in one go equals KL measured one by one", async (t) => {
  const { model, evaluator } = await openFixture(t, "llama-localized");
  const text = new NeutralText(model, sentences.slice(0, 8));
  const base = await text.run(evaluator);
  const variants = [[], [{ layer: 0, neurons: [0, 1, 2, 3, 4, 5, 6, 7] }], [{ layer: 3, neurons: [9], scale: 2 }]];
  const kls = await text.klVariants(evaluator, base, variants, 2);
  t.equal(kls[0], 0, "no edit, no divergence");
  for (const [v, variant] of variants.entries()) {
    const edited = await text.run(evaluator, variant);
    const expected = base.rows.reduce((s, row, i) => s + klDivergence(row, edited.rows[i]!), 0) / base.rows.length;
    t.ok(Math.abs(kls[v]! - expected) < 1e-6, `variant ${v}: ${kls[v]} = ${expected}`);
  }
  t.ok(kls[1]! > 0, "an edit diverges");
});

t.test("the bundled neutral text", async (t) => {
  const lines = defaultNeutralSentences();
  t.ok(lines.length >= 40, `${lines.length} sentences`);
  t.notOk(lines.some((l) => /\b(he|she|his|her|him|man|woman|men|women|boy|girl|mother|father)\b/i.test(l)), "no gendered word");
});
