// The fast search spends no more passes than it is given, and every set it keeps is inside the budget.
import { hookEffects } from "../../lib/locate/causal.js";
import t from "tap";
import { rankByDirectEffect } from "../../lib/locate/locate.js";
import { openGguf } from "../../lib/gguf/reader.js";
import { openSession, scoreOriginal } from "../../lib/measure/session.js";
import { selectionBaseline } from "../../lib/locate/baseline.js";
import { defaultWorkload } from "../../lib/measure/workload.js";
import { roundSizes, searchRanked, spread } from "../../lib/select/ranked-search.js";
import { sizeLadder, stepSet } from "../../lib/select/selection.js";
import { fixturePath } from "../helpers/fixtures.js";

t.test("round sizes: powers of two up to the limit, spread over the passes a round may spend", async (t) => {
  t.same(roundSizes(40, 5), [1, 2, 8, 16, 40]);
  t.same(roundSizes(40, 7), [1, 2, 4, 8, 16, 40]);
  t.same(roundSizes(16, 5), [1, 2, 4, 8, 16]);
  t.same(roundSizes(33, 5), [1, 2, 8, 16, 33]);
  t.same(roundSizes(3, 5), [1, 2, 3]);
  t.same(roundSizes(2000, 5), [1, 8, 64, 256, 2000]);
  t.same(roundSizes(40, 1), [1]);
  t.same(roundSizes(0, 5), []);
  t.same(roundSizes(40, 0), []);
  t.same(sizeLadder(40), [1, 2, 4, 8, 16, 40]);
  t.same(sizeLadder(1), [1]);
  t.same(spread([1, 4, 16], 2), [1, 16]);
  t.same(spread([1, 4, 16], 1), [1]);
});

t.test("on the planted fixture: within its passes and the damage budget, best-ranked neurons first", async (t) => {
  const path = fixturePath("llama-localized");
  const session = await openSession(path, await defaultWorkload("demo"), { threads: 1 });
  t.teardown(() => session.model.dispose());
  const base = await selectionBaseline(session, "stereotype", await scoreOriginal(session));
  const ranked = await rankByDirectEffect(session.model, await openGguf(path), session.evaluator, base, { candidates: 40 });
  t.equal(ranked.length, 40);
  t.ok(ranked.every((n, i) => n.dla > 0 && (i === 0 || ranked[i - 1]!.dla >= n.dla)), "ranked by direct effect, best first");
  for (const passes of [1, 3, 8]) {
    const selection = await searchRanked(hookEffects(session.evaluator, base), base, ranked, 4 * 512, passes, { maxKl: 0.02 });
    t.ok(selection.passes <= passes, `${selection.passes} of ${passes} passes spent (${selection.stopped})`);
    t.equal(selection.search, "fast");
    t.ok(selection.effect.kl <= 0.02 && selection.effect.loss < base.score.stereotypeGap!, `the set of ${selection.neurons.length} leaves ${selection.effect.loss.toFixed(3)} at KL ${selection.effect.kl.toExponential(1)}`);
    // the chosen set is one the search measured: what the walk had before a round, plus one addition of that round
    const key = (n: { layer: number; index: number }) => `${n.layer}:${n.index}`;
    const setOf = (step: (typeof selection.steps)[number]) => stepSet(selection.steps, step).map(key).sort();
    const chosen = selection.neurons.map(key).sort();
    t.ok(selection.steps.some((step) => step.reason === "" && JSON.stringify(setOf(step)) === JSON.stringify(chosen)), "the set is one the search measured within the budget");
    if (passes === 8) t.ok(selection.steps.length > selection.passes, `${selection.steps.length} sets judged for ${selection.passes} measured: sets an earlier round measured are judged again for free`);
  }
});
