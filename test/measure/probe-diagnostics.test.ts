// A template that measures grammar or a prior rather than gender is named, with why.
import t from "tap";
import { scoreBias, type ProbeKey } from "../../lib/measure/metrics.js";
import { templateWarnings } from "../../lib/measure/probe-diagnostics.js";

const probe = (word: string, label: ProbeKey["label"], template: string, extra: Partial<ProbeKey> = {}): ProbeKey => ({ word, category: "c", label, split: "selection", template, target: "she/he", baseline: label === "neutral", ...extra });
const words = (template: string) => [
  probe("kid", "neutral", template),
  probe("friend", "neutral", template),
  probe("mom", "factual", template, { gold: "female" }),
  probe("dad", "factual", template, { gold: "male" }),
  probe("girl", "factual", template, { gold: "female" }),
  probe("boy", "factual", template, { gold: "male" }),
];

t.test("templates that measure gender pass; the others are named with their numbers", async (t) => {
  const probes = [...words("good"), ...words("prior"), ...words("grammar")];
  const values = [
    // good: b0 = −0.5, every factual word on its side
    -0.4, -0.6, 1, -2, 0.5, -1.5,
    // prior: b0 = −2.5 (beyond ±2), factual words still on their side
    -2.4, -2.6, -1, -4, -1.5, -3.5,
    // grammar: b0 = 0, mom right, dad, girl and boy wrong → accuracy 0.25
    0.1, -0.1, 1, 0.5, -0.5, 0.2,
  ];
  const warnings = templateWarnings(scoreBias(probes, values));
  t.same(warnings.map((w) => w.template), ["prior", "grammar"]);
  t.match(warnings[0]!.reasons, [/baseline b0 for she\/he is -2\.500 nats, beyond ±2/]);
  t.equal(warnings[0]!.factualAccuracy, 1);
  t.match(warnings[1]!.reasons, [/factual accuracy against its baseline 0\.250 is below 0\.75/]);
  t.same(warnings[1]!.baselines, { "she/he": 0 });
});

t.test("a template without factual words is judged on its baseline alone", async (t) => {
  const probes = [probe("ball", "neutral", "toy"), probe("doll", "stereotyped", "toy", { direction: "female" })];
  t.same(templateWarnings(scoreBias(probes, [0.3, 1])), []);
  t.equal(templateWarnings(scoreBias(probes, [3, 4]))[0]!.reasons.length, 1);
});
