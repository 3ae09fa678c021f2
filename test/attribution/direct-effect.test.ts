import t from "tap";
import { datasetFromManifest, probes } from "../../lib/bias/dataset.js";
import { ProbeSet } from "../../lib/bias/probe-set.js";
import { directEffects } from "../../lib/attribution/direct-effect.js";
import { openGguf } from "../../lib/gguf/reader.js";
import { fixturePath, manifest, openFixture } from "../helpers/fixtures.js";

const dataset = datasetFromManifest(manifest.dataset as Parameters<typeof datasetFromManifest>[0]);

// In the last layer a neuron only acts through the logits, so its direct effect must predict the change
// of b when it is zeroed at the last position, up to the final norm, which DLA freezes. Under RMSNorm
// that holds to 10%; LayerNorm re-centres and rescales more when one neuron goes, so there only the
// direction is asserted.
for (const [name, relative] of [["llama-localized", 0.1], ["gpt2-localized", null]] as const) {
  t.test(`${name}: last-layer DLA predicts the effect of zeroing`, async (t) => {
    const { model, evaluator } = await openFixture(t, name);
    const probe = probes(dataset).find((p) => p.label === "stereotyped" && p.female === " she")!;
    const set = ProbeSet.build(model, [probe]);
    const [b] = await set.measure(evaluator);
    const direct = await directEffects(await openGguf(fixturePath(name)), model, evaluator, set, Float64Array.of(b!));
    const last = model.facts.nLayer - 1;
    const dla = Array.from(direct.stereotype[last]!, (v) => v * Math.sign(b!));
    const top = dla.map((v, i) => ({ v, i })).sort((x, y) => Math.abs(y.v) - Math.abs(x.v)).slice(0, 8);
    for (const { v, i } of top) {
      const [zeroed] = await set.measure(evaluator, [{ layer: last, neurons: [i], positions: [-1] }]);
      const effect = b! - zeroed!;
      const message = `neuron ${last}:${i}: DLA ${v.toExponential(3)} vs measured ${effect.toExponential(3)}`;
      if (relative === null) t.equal(Math.sign(effect), Math.sign(v), message);
      else t.ok(Math.abs(effect - v) <= relative * Math.abs(v) + 1e-4, message);
    }
    t.equal(direct.norms.length, model.facts.nLayer, "a value-vector norm per layer");
  });
}
