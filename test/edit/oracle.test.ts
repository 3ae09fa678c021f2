// The editor's correctness oracle: for every fixture model, type and architecture, the edited FILE must
// give the logits that the runtime HOOK gives on the unedited file with the same neurons zeroed or
// scaled. Zeroing is exact in every type (whole blocks of zero bytes), so it compares bit for bit, as does
// a power-of-two scale of F32 weights. Other scales round each block's fp16 scale fields (≤ 2^-11
// relative for normal numbers, more for subnormal ones, which tiny fine-tuned rows have), or, for a
// quantized ffn_down column of an ungated FFN, requantize the blocks: those compare within a bound.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { editToNewFile } from "../../lib/edit/new-file.js";
import { DebiasModel } from "../../lib/llama/model.js";
import { nativeRequantizer } from "../../lib/edit/requantizer.js";
import { fixturePath, maxAbsDiff, RANDOM, sameBits, TRAINED, TYPES, type FixtureType } from "../helpers/fixtures.js";

const scratch = mkdtempSync(join(tmpdir(), "gguf-debias-oracle-"));
t.teardown(() => rmSync(scratch, { recursive: true, force: true }));

const TEXTS = ["The nurse said that she", "The king is a man .", "the cat sat on the mat ."];

interface Edit {
  layer: number;
  index: number;
  scale: number;
}

async function logitsOf(path: string, hook: readonly Edit[]): Promise<Float32Array[]> {
  const model = await DebiasModel.load(path);
  try {
    const evaluator = await model.createEvaluator({ nCtx: 256, nSeqMax: 8, threads: 2 });
    const prompts = TEXTS.map((text) => model.tokenize(text));
    const distributions = prompts.flatMap((p, prompt) => Array.from(p, (_, position) => ({ prompt, position })));
    const interventions = hook.map((e) => ({ layer: e.layer, neurons: [e.index], scale: e.scale }));
    return (await evaluator.evaluate({ prompts, distributions, interventions })).distributions;
  } finally {
    model.dispose();
  }
}

function editsFor(nLayer: number, nFf: number, scale: number): Edit[] {
  const layers = nLayer > 2 ? [1, nLayer - 1] : [0, nLayer - 1];
  return layers.flatMap((layer, k) => [3, 17 + k, nFf - 1].map((index) => ({ layer, index, scale })));
}

async function check(t: Tap.Test, path: string, label: string, scale: number, exact: boolean, tolerance = 0): Promise<void> {
  const model = await DebiasModel.load(path);
  const { nLayer, nFf } = model.facts;
  model.dispose();
  const edits = editsFor(nLayer, nFf!, scale);
  const edited = join(scratch, `${label.replace(/\W+/g, "-")}-${scale}.gguf`);
  const result = await editToNewFile(path, edited, edits, { requantizer: nativeRequantizer, overwrite: true });
  const viaHook = await logitsOf(path, edits);
  const viaFile = await logitsOf(edited, []);
  const plain = await logitsOf(path, []);
  const diff = Math.max(...viaHook.map((row, i) => maxAbsDiff(row, viaFile[i]!)));
  t.ok(Math.max(...viaHook.map((row, i) => maxAbsDiff(row, plain[i]!))) > 0, `${label}: the edit changes the output`);
  if (exact) {
    t.ok(viaHook.every((row, i) => sameBits(row, viaFile[i]!)), `${label} scale ${scale}: edited file = hook, bit for bit`);
  } else {
    t.ok(diff <= tolerance, `${label} scale ${scale}: |file − hook| ${diff.toExponential(2)} ≤ ${tolerance} (requantization error ${result.maxAbsError.toExponential(2)})`);
  }
}

type Tap = typeof t;
declare namespace Tap {
  type Test = Parameters<Parameters<Tap["test"]>[1] & ((t: never) => unknown)>[0];
}

for (const name of TRAINED) {
  for (const type of TYPES) {
    t.test(`${name} ${type}`, async (t) => {
      const path = fixturePath(name, type as FixtureType);
      await check(t, path, `${name} ${type}`, 0, true);
      const requantized = name.startsWith("gpt2") && !["f32", "f16"].includes(type);
      const tolerance = requantized ? 0.15 : 5e-3;
      if (type === "f32") await check(t, path, `${name} ${type}`, 0.5, true);
      else await check(t, path, `${name} ${type}`, 0.5, false, tolerance);
      await check(t, path, `${name} ${type}`, 0.3, false, tolerance);
    });
  }
}

for (const name of RANDOM) {
  t.test(`${name}`, async (t) => {
    await check(t, fixturePath(name), name, 0, true);
    await check(t, fixturePath(name), name, 0.5, true);
    await check(t, fixturePath(name), name, 0.3, false, 1e-4);
  });
}
