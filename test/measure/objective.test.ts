// What the search minimises and what the verdict reports, on hand-made metrics.
import t from "tap";
import type { GroupMetrics } from "../../lib/measure/metrics.js";
import { objectiveSize, objectiveValue, searchSize } from "../../lib/measure/objective.js";

const metrics = (m: Partial<GroupMetrics>) => ({ stereotypeGap: null, residual: null, priorSkew: null, ...m }) as GroupMetrics;

t.test("the stereotype objective is the signed gap, or the residual where no word has a direction", async (t) => {
  t.equal(objectiveValue(metrics({ stereotypeGap: -0.4, residual: 0.3, priorSkew: 2 }), "stereotype"), -0.4);
  t.equal(objectiveValue(metrics({ residual: 0.3 }), "stereotype"), 0.3);
  t.equal(objectiveValue(metrics({}), "stereotype"), null);
  t.equal(objectiveSize(metrics({ stereotypeGap: -0.4 }), "stereotype"), 0.4);
  t.equal(objectiveSize(metrics({}), "stereotype"), 0, "nothing measurable: nothing to remove");
});

t.test("the prior objective is the prior skew alone", async (t) => {
  t.equal(objectiveValue(metrics({ stereotypeGap: 1, priorSkew: -0.25 }), "prior"), -0.25);
  t.equal(searchSize(metrics({ stereotypeGap: 1, residual: 1, priorSkew: -0.25 }), "prior"), 0.25);
});

t.test("the search minimises |gap|/2 plus the mean residual: a gap of zero with words pushed past their baseline still counts", async (t) => {
  t.equal(searchSize(metrics({ stereotypeGap: -0.5, residual: 0.25 }), "stereotype"), 0.5);
  // two words pushed equally far in opposite directions: Δ = 0, yet the residual keeps the search going
  t.equal(searchSize(metrics({ stereotypeGap: 0, residual: 0.75 }), "stereotype"), 0.75);
  t.equal(searchSize(metrics({ stereotypeGap: 0, residual: 0 }), "stereotype"), 0, "every word at its baseline: done");
});
