// Edited files must stay ordinary GGUF models: the pinned node-llama-cpp (its own prebuilt llama.cpp,
// not our addon) loads them and generates what our evaluator predicts.
import { mkdtempSync, rmSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { getLlama } from "node-llama-cpp";
import { editInPlace } from "../../lib/edit/editor.js";
import { editToNewFile } from "../../lib/edit/new-file.js";
import { DebiasModel } from "../../lib/llama/model.js";
import { fixturePath } from "../helpers/fixtures.js";

const scratch = mkdtempSync(join(tmpdir(), "gguf-debias-nlc-"));
t.teardown(() => rmSync(scratch, { recursive: true, force: true }));

async function ourGreedy(path: string, text: string, steps: number): Promise<number[]> {
  const model = await DebiasModel.load(path);
  try {
    const evaluator = await model.createEvaluator({ nCtx: 64, nSeqMax: 1, threads: 2 });
    const tokens = [...model.tokenize(text)];
    const out: number[] = [];
    for (let k = 0; k < steps; k++) {
      const [row] = (await evaluator.evaluate({ prompts: [Int32Array.from(tokens)], distributions: [{ prompt: 0, position: -1 }] })).distributions;
      const next = row!.indexOf(Math.max(...row!));
      out.push(next);
      tokens.push(next);
    }
    return out;
  } finally {
    model.dispose();
  }
}

t.test("node-llama-cpp runs models edited in place and into new files", async (t) => {
  const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" as never });
  t.teardown(() => llama.dispose());
  const edits = [{ layer: 1, index: 4, scale: 0 }, { layer: 2, index: 11, scale: 0.5 }];
  const inPlace = join(scratch, "in-place.gguf");
  copyFileSync(fixturePath("llama-localized", "q4_k"), inPlace);
  await editInPlace(inPlace, edits);
  const copy = join(scratch, "copy.gguf");
  // An ungated quantized model scaled needs requantizing: ggml's own quantizers are the default.
  await editToNewFile(fixturePath("gpt2-localized", "q8_0"), copy, edits);
  const ungated = join(scratch, "ungated-in-place.gguf");
  copyFileSync(fixturePath("gpt2-localized", "q8_0"), ungated);
  await editInPlace(ungated, edits);
  for (const path of [inPlace, copy, ungated]) {
    const model = await llama.loadModel({ modelPath: path });
    const context = await model.createContext({ contextSize: 64 });
    const sequence = context.getSequence();
    const text = "The nurse said that";
    const generated: number[] = [];
    // node-llama-cpp tokenizes without BOS unless asked; match what our tokenizer does by default.
    const prompt = [model.tokens.bos!, ...model.tokenize(text)];
    for await (const token of sequence.evaluate(prompt, { temperature: 0 })) {
      generated.push(token);
      if (generated.length === 3) break;
    }
    t.same(generated, await ourGreedy(path, text, 3), `${path}: same greedy continuation "${model.detokenize(generated as never)}"`);
    await context.dispose();
    await model.dispose();
  }
});
