// Does a neuron set chosen on the selection probes carry over to held-out ones on a real model? The
// gentlest neuron edit there is answers it: remove from ffn_down column i only its part along the gender
// readout directions (γ ⊙ (W_U[female] − W_U[male]) of every target pair the probes use, made
// orthonormal), which takes out the neuron's direct effect on b and little else. Neurons are ranked by
// that direct effect on the stereotype gap, measured once on the selection words and once on the
// held-out words (the oracle: what the edit kind could do if the search knew the test words); the top k
// are edited in a scratch copy of the file, which is then measured like any model.
//   node dist/bench/projection.js [model.gguf (F16 or F32)] [--k 8,32,64,128] [--threads N]
import { closeSync, copyFileSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { numberToF16 } from "../lib/gguf/float.js";
import { openGguf } from "../lib/gguf/reader.js";
import { readRows, requireTensor } from "../lib/gguf/tensors.js";
import { directEffects } from "../lib/locate/direct-effect.js";
import { dlaWeights } from "../lib/locate/locate.js";
import { scoreBias } from "../lib/measure/metrics.js";
import { compareRuns } from "../lib/measure/neutral-text.js";
import { defaultWorkload } from "../lib/measure/workload.js";
import { packageRoot } from "../lib/package-root.js";
import { openSession, scoreOriginal } from "../lib/measure/session.js";
import { selectionBaseline } from "../lib/locate/baseline.js";

const args = process.argv.slice(2);
const option = (name: string) => args.flatMap((a, i) => (a === `--${name}` && args[i + 1] ? [args[i + 1]!] : []))[0];
const model = args.find((a, i) => !a.startsWith("--") && !args[i - 1]?.startsWith("--")) ?? join(packageRoot(), "..", "shared", "models", "TinyStories-656K.f16.gguf");
const ks = (option("k") ?? "8,32,64,128").split(",").map(Number);
const threads = Number(option("threads") ?? 1);

const workload = await defaultWorkload(join(packageRoot(), "data", "tinystories.json"));
const session = await openSession(model, workload, { threads });
const file = await openGguf(model);
const { nLayer, nEmbd } = session.model.facts;
const scratch = mkdtempSync(join(tmpdir(), "gguf-debias-bench-projection-"));
try {
  const original = await scoreOriginal(session);
  const selection = await selectionBaseline(session, "stereotype", original);
  const heldProbes = session.probes.filter((p) => p.split === "heldout");
  const heldB = Float64Array.from(original.b.filter((_, i) => session.probes.items[i]!.probe.split === "heldout"));
  const held = { ...selection, probes: heldProbes, b: heldB, score: heldProbes.scoreOf(heldB, original.scoreOptions) };
  const effectOn = async (base: typeof selection) => (await directEffects(file, session.model, session.evaluator, base.probes, dlaWeights(base))).objective;
  const [onSelection, onHeld] = [await effectOn(selection), await effectOn(held)];
  const nFf = onSelection[0]!.length;
  const neurons = Array.from({ length: nLayer * nFf }, (_, k) => ({ layer: Math.floor(k / nFf), index: k % nFf }));

  const xs = neurons.map((n) => onSelection[n.layer]![n.index]!);
  const ys = neurons.map((n) => onHeld[n.layer]![n.index]!);
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  const [mx, my] = [mean(xs), mean(ys)];
  const cov = (a: number[], ma: number, b: number[], mb: number) => a.reduce((s, v, k) => s + (v - ma) * (b[k]! - mb), 0);
  console.log(`${neurons.length} neurons; correlation of their direct effects on the selection and the held-out stereotype gap: ${(cov(xs, mx, ys, my) / Math.sqrt(cov(xs, mx, xs, mx) * cov(ys, my, ys, my))).toFixed(3)}`);

  // The readout directions, orthonormal (Gram–Schmidt), one per target pair the probes use.
  const gamma = await readRows(file, requireTensor(file, "output_norm.weight"));
  const unembed = file.tensor("output.weight") ?? requireTensor(file, "token_embd.weight");
  const pairs = new Map(session.probes.items.flatMap((item) => (item.divergence ? [[`${item.divergence.female}:${item.divergence.male}`, item.divergence] as const] : [])));
  const basis: Float64Array[] = [];
  for (const { female, male } of pairs.values()) {
    const [f, m] = [await readRows(file, unembed, female, 1), await readRows(file, unembed, male, 1)];
    const v = Float64Array.from(gamma, (g, j) => g * (f[j]! - m[j]!));
    const length0 = Math.hypot(...v);
    for (const b of basis) {
      const dot = v.reduce((s, x, j) => s + x * b[j]!, 0);
      v.forEach((_, j) => (v[j] -= dot * b[j]!));
    }
    const length = Math.hypot(...v);
    if (length > 1e-6 * length0) basis.push(v.map((x) => x / length));
  }

  const downs: { tensor: ReturnType<typeof requireTensor>; w: Float32Array }[] = [];
  for (let layer = 0; layer < nLayer; layer++) {
    const tensor = requireTensor(file, `blk.${layer}.ffn_down.weight`);
    if (tensor.type.name !== "F16" && tensor.type.name !== "F32") throw new Error(`${tensor.name} is ${tensor.type.name}: this bench writes F16 or F32 columns only`);
    downs.push({ tensor, w: await readRows(file, tensor) });
  }
  // The held-out gap has two parts: selection words in held-out templates (new contexts) and held-out
  // words in selection templates (new words), each against its templates' baselines.
  const templateSplit = new Map(workload.dataset.templates.map((t) => [t.id, t.split]));
  const wordSplit = new Map(workload.dataset.words.map((w) => [w.word, w.split]));
  const probes = session.probes.items.map((item) => item.probe);
  const part = (template: string, word: string) => probes.map((p) => templateSplit.get(p.template) === template && (p.label !== "stereotyped" || wordSplit.get(p.word) === word));
  const [contexts, words] = [part("heldout", "selection"), part("selection", "heldout")];
  const gapOn = (keep: boolean[], b: ArrayLike<number>) => scoreBias(probes.filter((_, i) => keep[i]), Array.from(b).filter((_, i) => keep[i]), original.scoreOptions).stereotypeGap;
  const parts = (b: ArrayLike<number>) => ({ contexts: gapOn(contexts, b), words: gapOn(words, b) });
  const parts0 = parts(original.b);
  console.log(`held-out gap, new contexts (selection words, held-out templates): ${parts0.contexts?.toFixed(3)}; new words (held-out words, selection templates): ${parts0.words?.toFixed(3)}`);
  let serial = 0;
  const measureProjected = async (set: readonly { layer: number; index: number }[]) => {
    const path = join(scratch, `${serial++}.gguf`);
    copyFileSync(model, path);
    const fd = openSync(path, "r+");
    try {
      for (const { layer, index } of set) {
        const { tensor, w } = downs[layer]!;
        const v = Float64Array.from({ length: nEmbd }, (_, j) => w[j * nFf + index]!);
        for (const b of basis) {
          const dot = v.reduce((s, x, j) => s + x * b[j]!, 0);
          v.forEach((_, j) => (v[j] -= dot * b[j]!));
        }
        const size = tensor.type.name === "F16" ? 2 : 4;
        v.forEach((x, j) => {
          const bytes = Buffer.alloc(size);
          if (size === 2) bytes.writeUInt16LE(numberToF16(x));
          else bytes.writeFloatLE(x);
          writeSync(fd, bytes, 0, size, tensor.absoluteOffset + (j * nFf + index) * size);
        });
      }
    } finally {
      closeSync(fd);
    }
    const edited = await openSession(path, workload, { threads });
    try {
      const b = await edited.probes.measure(edited.evaluator);
      const score = edited.probes.scoreOf(b, original.scoreOptions);
      return { score, parts: parts(b), kl: compareRuns(selection.neutralRun, await edited.neutral.run(edited.evaluator)).kl };
    } finally {
      edited.model.dispose();
    }
  };

  const pct = (from: number | null, to: number | null) => (from && to !== null ? `${to >= from ? "+" : "−"}${Math.abs(100 * (to / from - 1)).toFixed(1)}%` : "–");
  const before = original.score.splits;
  console.log(`held-out gap ${before.heldout.stereotypeGap?.toFixed(3)} ± ${before.heldout.stereotypeGapSe?.toFixed(3)}, selection gap ${before.selection.stereotypeGap?.toFixed(3)}; ${basis.length} readout directions`);
  const rows = [["ranked on", "k", "selection gap", "held-out gap", "new contexts", "new words", "held-out factual margin", "KL"]];
  for (const [name, effect] of [["selection words", onSelection], ["held-out words (oracle)", onHeld]] as const) {
    const ranked = neurons.filter((n) => effect[n.layer]![n.index]! > 0).sort((a, b) => effect[b.layer]![b.index]! - effect[a.layer]![a.index]!);
    for (const k of [...ks.filter((k) => k < ranked.length), ranked.length]) {
      const { score, parts: p, kl } = await measureProjected(ranked.slice(0, k));
      const after = score.splits;
      rows.push([name, String(k), pct(before.selection.stereotypeGap, after.selection.stereotypeGap), `${after.heldout.stereotypeGap?.toFixed(3)} (${pct(before.heldout.stereotypeGap, after.heldout.stereotypeGap)})`, pct(parts0.contexts, p.contexts), pct(parts0.words, p.words), pct(before.heldout.factualMargin, after.heldout.factualMargin), kl?.toExponential(2) ?? "–"]);
      console.log(rows.at(-1)!.join(" | "));
    }
  }
  console.log(`\n| ${rows[0]!.join(" | ")} |\n|${rows[0]!.map(() => "---").join("|")}|\n${rows.slice(1).map((r) => `| ${r.join(" | ")} |`).join("\n")}`);
} finally {
  session.model.dispose();
  rmSync(scratch, { recursive: true, force: true });
}
