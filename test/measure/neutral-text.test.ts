import t from "tap";
import { compareRuns, defaultNeutralSentences, MAX_NEUTRAL_POSITIONS, NeutralText, uneditedCapability } from "../../lib/measure/neutral-text.js";
import { klDivergence } from "../../lib/measure/metrics.js";
import { manifest, openFixture } from "../helpers/fixtures.js";

const sentences = (manifest.dataset as { neutralText: string[] }).neutralText;

t.test("an unedited model agrees with itself", async (t) => {
  const { model, evaluator } = await openFixture(t, "llama-localized");
  const text = new NeutralText(model, sentences);
  const run = await text.run(evaluator);
  t.same(compareRuns(run, run), { kl: 0, top1Agreement: 1, perplexity: compareRuns(run, run).basePerplexity, basePerplexity: compareRuns(run, run).basePerplexity });
  t.same(uneditedCapability(run), compareRuns(run, run), "what a run that edits nothing reports, without the vocabulary-wide comparison");
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

t.test("comparing in C++ gives what comparing the rows in JS gives, without the edited rows", async (t) => {
  const { model, evaluator } = await openFixture(t, "llama-localized");
  const text = new NeutralText(model, sentences);
  const base = await text.run(evaluator);
  t.same(await text.compare(evaluator, base), compareRuns(base, base), "unedited: KL 0, full agreement, the same perplexity");
  const edit = [{ layer: 1, neurons: [150, 461], scale: 0 }];
  const viaRows = compareRuns(base, await text.run(evaluator, edit));
  const inPlace = await text.compare(evaluator, base, edit);
  t.ok(inPlace.kl > 0 && Math.abs(inPlace.kl - viaRows.kl) < 1e-6 * Math.max(1, viaRows.kl), `KL ${inPlace.kl} = ${viaRows.kl}`);
  t.equal(inPlace.top1Agreement, viaRows.top1Agreement);
  t.ok(Math.abs(inPlace.perplexity - viaRows.perplexity) < 1e-9 * viaRows.perplexity, `perplexity ${inPlace.perplexity}`);
  t.equal(inPlace.basePerplexity, viaRows.basePerplexity);
});

t.test("the bundled neutral text", async (t) => {
  const lines = defaultNeutralSentences();
  t.ok(lines.length >= 40, `${lines.length} sentences`);
  t.notOk(lines.some((l) => /\b(he|she|his|her|him|man|woman|men|women|boy|girl|mother|father)\b/i.test(l)), "no gendered word");
});

t.test("a neutral text too long for bounded memory is refused before anything is evaluated", async (t) => {
  const { DebiasModel } = await import("../../lib/llama/model.js");
  const { fixturePath } = await import("../helpers/fixtures.js");
  const model = await DebiasModel.load(fixturePath("llama-localized"));
  t.teardown(() => model.dispose());
  const bundled = new NeutralText(model, defaultNeutralSentences());
  t.ok(bundled.positions.length * 4 <= MAX_NEUTRAL_POSITIONS, `the bundled text (${bundled.positions.length} positions) fits four times over`);
  const many = Array.from({ length: 20_000 }, (_, i) => `${sentences[i % sentences.length]} (${i})`);
  t.throws(() => new NeutralText(model, many), { code: "E_NEUTRAL_TOO_LONG", message: /^The neutral text predicts more than 8192 tokens \(\d+ by sentence \d+ of 20000\), the most that fit in bounded memory on this 824-token vocabulary/ });
});
