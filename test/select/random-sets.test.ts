// The random sets a chosen edit is compared with are like it in everything but the neurons.
import t from "tap";
import { randomSetsLike } from "../../lib/select/random-sets.js";

t.test("same size, layers and scales; never the chosen neurons; repeatable from the seed", async (t) => {
  const chosen = [
    { layer: 1, index: 3, scale: 0 },
    { layer: 1, index: 7, scale: 0 },
    { layer: 2, index: 0, scale: 0.5 },
  ];
  const sets = randomSetsLike(chosen, 50, 16, 7);
  t.equal(sets.length, 50);
  for (const set of sets) {
    t.same(set.map((n) => [n.layer, n.scale]), chosen.map((n) => [n.layer, n.scale]));
    const keys = set.map((n) => `${n.layer}:${n.index}`);
    t.equal(new Set(keys).size, keys.length, "no neuron twice in a set");
    t.notOk(keys.some((k) => ["1:3", "1:7", "2:0"].includes(k)), "no chosen neuron");
    t.ok(set.every((n) => Number.isInteger(n.index) && n.index >= 0 && n.index < 16));
  }
  t.same(randomSetsLike(chosen, 50, 16, 7), sets, "same seed, same sets");
  t.not(JSON.stringify(randomSetsLike(chosen, 50, 16, 8)), JSON.stringify(sets), "another seed, other sets");
});
