// How a candidate is classed from its single effect, on hand-made effects: no model.
import t from "tap";
import { classOf, noiseFloor } from "../../lib/locate/classes.js";

const thresholds = { generalKl: 0.02, factualTolerance: 0.2 };
const random = [-0.01, 0.01, -0.02, 0.02].map((dLoss) => ({ dLoss, dFactual: 0, kl: 1e-3 }));

t.test("the noise floor is three standard deviations of random neurons' effects, or 0.2% of the objective", async (t) => {
  const noise = noiseFloor(random, 2);
  t.equal(noise.n, 4);
  t.equal(noise.dLossMean, 0);
  t.ok(Math.abs(noise.noiseFloor - 3 * noise.dLossStd) < 1e-15 && noise.noiseFloor > 0.004);
  t.equal(noise.klMean, 1e-3);
  t.equal(noiseFloor(random.map((e) => ({ ...e, dLoss: 0 })), 2).noiseFloor, 0.004, "no spread: 0.2% of 2 nats");
});

t.test("each candidate is classed by its own effect, for the reason it gives", async (t) => {
  const noise = noiseFloor(random, 2);
  const floor = noise.noiseFloor;
  const cls = (dLoss: number, dFactual = 0, kl = 1e-3) => classOf({ dLoss, dFactual, kl }, noise, 1, thresholds);
  t.match(cls(-2 * floor), { kind: "gender", reasons: [/shrinks the objective by .* more than the noise floor/] });
  t.match(cls(-floor / 2), { kind: "other", reasons: [/no more than the noise floor/] });
  t.match(cls(2 * floor), { kind: "other", reasons: [/grows the objective .* works against the bias/] });
  t.match(cls(-1, 0, 0.05), { kind: "general", reasons: [/costs KL 0.0500 on neutral text, more than the budget 0.02/] }, "a strong gender effect at a general neuron's price");
  t.match(cls(-1, -0.3), { kind: "general", reasons: [/removes 30.0% of the factual margin \(budget 20%\)/] });
  t.equal(cls(-1, -0.3, 0.05).reasons.length, 2, "both reasons when both hold");
  t.equal(cls(-1, -0.15).kind, "gender", "within the factual tolerance");
  t.equal(classOf({ dLoss: -1, dFactual: -0.05, kl: 1e-3 }, noise, 0.01, thresholds).kind, "general", "a margin near zero is judged against 0.1 nats, not itself");
  t.equal(classOf({ dLoss: -1, dFactual: -0.01, kl: 1e-3 }, noise, 0.01, thresholds).kind, "gender", "…so noise on it is not general");
});
