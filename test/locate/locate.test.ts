// Locating on the planted llama fixture: which candidates are screened, and how each is classed from
// its own measured effect against the noise floor of random neurons.
import t from "tap";
import { locate } from "../../lib/locate/locate.js";
import { classOf } from "../../lib/locate/classes.js";
import { openGguf } from "../../lib/gguf/reader.js";
import { openSession, scoreOriginal } from "../../lib/measure/session.js";
import { selectionBaseline } from "../../lib/locate/baseline.js";
import { defaultWorkload } from "../../lib/measure/workload.js";
import { fixturePath, manifest } from "../helpers/fixtures.js";

const path = fixturePath("llama-localized");
const planted = new Set(manifest.models["llama-localized"]!.designatedNeurons!.map((n) => `${n.layer}:${n.index}`));
const session = await openSession(path, await defaultWorkload("demo"), { threads: 1 });
t.teardown(() => session.model.dispose());
const base = await selectionBaseline(session, "stereotype", await scoreOriginal(session));
const file = await openGguf(path);
const result = await locate(session.model, file, session.evaluator, base, { candidates: 24, randomNeurons: 16, neutralCandidates: 4, maxKl: 0.02, minFactualRatio: 0.8 });

t.test("the noise floor comes from the random neurons, each candidate's class from its own effect (classes.ts)", async (t) => {
  t.equal(result.noise.n, 16);
  for (const n of result.neurons) t.same({ kind: n.kind, reasons: n.reasons }, classOf(n.causal, result.noise, result.baseline.factualMargin, result.thresholds), `${n.layer}:${n.index}`);
  t.ok(result.neurons.some((n) => n.kind === "gender"), "some are gender neurons");
});

t.test("screening finds the planted neurons far above chance, and they dominate the gender class", async (t) => {
  const key = (n: { layer: number; index: number }) => `${n.layer}:${n.index}`;
  const screened = result.neurons.filter((n) => planted.has(key(n))).length;
  const { nLayer, nFf } = manifest.models["llama-localized"]!.config;
  const chance = (result.neurons.length * planted.size) / (nLayer * nFf);
  t.ok(screened >= 8, `${screened} of the ${planted.size} planted neurons among ${result.neurons.length} candidates (chance: ${chance.toFixed(2)})`);
  const gender = result.neurons.filter((n) => n.kind === "gender");
  const plantedGender = gender.filter((n) => planted.has(key(n))).length;
  t.ok(plantedGender >= gender.length / 2, `${plantedGender} of ${gender.length} gender neurons are planted`);
  t.ok(planted.has(key([...result.neurons].sort((a, b) => b.dla - a.dla)[0]!)), "the strongest direct effect is a planted neuron");
  t.ok(result.neurons.every((n) => n.sources.length > 0), "every candidate names why it was screened");
});

t.test("the same seed screens the same random neurons", async (t) => {
  const again = await locate(session.model, file, session.evaluator, base, { candidates: 24, randomNeurons: 16, neutralCandidates: 4, maxKl: 0.02, minFactualRatio: 0.8 });
  t.same(again.noise, result.noise);
  t.same(again.neurons.map((n) => [n.layer, n.index, n.kind]), result.neurons.map((n) => [n.layer, n.index, n.kind]));
});
