import { chmodSync, copyFileSync, linkSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import t from "tap";
import { DebiasModel } from "../../lib/llama/model.js";
import { fixturePath, manifest, openFixture } from "../helpers/fixtures.js";

const scratch = mkdtempSync(join(tmpdir(), "gguf-debias-model-"));

t.test("facts describe the fixture", async (t) => {
  const { model } = await openFixture(t, "llama-localized");
  const config = manifest.models["llama-localized"]!.config;
  t.match(model.facts, { arch: "llama", nLayer: config.nLayer, nEmbd: config.nEmbd, nFf: config.nFf, nVocab: config.nVocab, addBos: true });
  t.same(model.ffn, { activation: "ffn_swiglu", gate: "separate" });
  const tokens = model.tokenize("The nurse said that");
  t.equal(tokens[0], model.facts.bos, "BOS first");
  t.equal(model.detokenize(tokens.subarray(1)), "The nurse said that", "round trip");
});

t.test("bad input is one clear error with a code, never a crash", async (t) => {
  await t.rejects(DebiasModel.load(join(scratch, "missing.gguf")), { code: "E_FILE_NOT_FOUND", message: /missing\.gguf does not exist/ });
  await t.rejects(DebiasModel.load(scratch), { code: "E_NOT_A_FILE" });

  const text = join(scratch, "notes.gguf");
  writeFileSync(text, "this is not a model\n");
  await t.rejects(DebiasModel.load(text), { code: "E_NOT_GGUF", message: /notes\.gguf: not a GGUF file/ });

  const whole = readFileSync(fixturePath("llama-localized"));
  const truncated = join(scratch, "truncated.gguf");
  writeFileSync(truncated, whole.subarray(0, Math.floor(whole.length / 2)));
  await t.rejects(DebiasModel.load(truncated), { code: "E_GGUF_TENSOR_RANGE", message: /truncated\.gguf: tensor .* runs past the end of the file/ });

  // Same file, architecture renamed to one llama.cpp does not know.
  const renamed = Buffer.from(whole);
  const key = renamed.indexOf("general.architecture");
  const value = key + "general.architecture".length + 4 + 8;
  t.equal(renamed.subarray(value, value + 5).toString(), "llama");
  renamed.write("llamx", value);
  const unknown = join(scratch, "unknown-arch.gguf");
  writeFileSync(unknown, renamed);
  await t.rejects(DebiasModel.load(unknown), { code: "E_MODEL_LOAD", message: /llamx/ });
});

t.test("an architecture llama.cpp runs but gguf-debias cannot hook is refused by name", async (t) => {
  const { model } = await openFixture(t, "llama-localized");
  Object.defineProperty(model.facts, "arch", { value: "mamba" });
  await t.rejects(model.createEvaluator(), { code: "E_ARCH_UNSUPPORTED", message: /"mamba" is not supported/ });
});

t.test("out-of-range layers, neurons, tokens and positions are refused", async (t) => {
  const { model, evaluator } = await openFixture(t, "llama-localized");
  const prompt = model.tokenize("The nurse said that");
  const nFf = model.facts.nFf!;
  await t.rejects(evaluator.evaluate({ prompts: [prompt], capture: { layers: [4], at: [{ prompt: 0, position: 0 }] } }), { code: "E_LAYER_RANGE", message: /layer 4 is out of range: the model has 4 layers/ });
  await t.rejects(evaluator.evaluate({ prompts: [prompt], interventions: [{ layer: -1, neurons: [0] }] }), { code: "E_LAYER_RANGE" });
  await t.rejects(evaluator.evaluate({ prompts: [prompt], interventions: [{ layer: 1, neurons: [nFf] }] }), { code: "E_NEURON_RANGE", message: new RegExp(`neuron ${nFf} of layer 1 is out of range`) });
  await t.rejects(evaluator.evaluate({ prompts: [Int32Array.from([1, 99999])] }), { code: "E_TOKEN_RANGE" });
  await t.rejects(evaluator.evaluate({ prompts: [prompt], targets: [{ prompt: 0, position: 99, token: 3 }] }), { code: "E_ARGUMENT", message: /position 99/ });
  await t.rejects(evaluator.evaluate({ prompts: [prompt], targets: [{ prompt: 2, position: 0, token: 3 }] }), { code: "E_ARGUMENT", message: /prompt 2/ });
  await t.rejects(evaluator.evaluate({ prompts: [] }), { code: "E_ARGUMENT" });
  await t.rejects(evaluator.evaluate({ prompts: [prompt], interventions: [{ layer: 1, neurons: [1], scale: Number.NaN }] }), { code: "E_ARGUMENT" });
  // The native layer checks too, for callers that skip the TypeScript wrapper.
  const context = await model.nativeModel.createContext({ nCtx: 64, nSeqMax: 4, threads: 1, kvType: "f32", flashAttn: false, hookTensor: "ffn_swiglu" });
  t.teardown(() => context.dispose());
  const request = { tokens: prompt, seqStarts: Int32Array.from([0, prompt.length]), outputs: Int32Array.from([prompt.length - 1]) };
  t.throws(() => context.evaluate({ ...request, interventions: [{ layer: 9, neurons: Int32Array.from([0]), scales: Float32Array.from([0]) }] }), { code: "E_LAYER_RANGE" });
  t.throws(() => context.evaluate({ ...request, tokens: Int32Array.from([1, 2, 99999, 4, 5].slice(0, prompt.length)) }), { code: "E_TOKEN_RANGE" });
  t.throws(() => context.evaluate({ ...request, targetRows: Int32Array.from([0]), targetTokens: Int32Array.from([3]) }), { code: "E_ARGUMENT", message: /outputs/ });
  await t.rejects(context.evaluate({ ...request, interventions: [{ layer: 1, neurons: Int32Array.from([nFf + 3]), scales: Float32Array.from([0]) }] }), { code: "E_NEURON_RANGE" });
  t.ok(await context.evaluate(request), "the context still works after a refused request");
});

t.test("a wrong hook tensor name is reported, not ignored", async (t) => {
  const { model } = await openFixture(t, "llama-localized");
  const context = await model.nativeModel.createContext({ nCtx: 64, nSeqMax: 4, threads: 1, kvType: "f32", flashAttn: false, hookTensor: "ffn_gelu" });
  t.teardown(() => context.dispose());
  const prompt = model.tokenize("The nurse");
  await t.rejects(
    context.evaluate({ tokens: prompt, seqStarts: Int32Array.from([0, prompt.length]), outputs: Int32Array.from([prompt.length - 1]), captureLayers: Int32Array.from([1]), captureRows: Int32Array.from([0]) }),
    { code: "E_HOOK_NOT_FOUND", message: /ffn_gelu-1 does not appear/ },
  );
});

t.test("use after dispose is an error, and dispose is idempotent", async (t) => {
  const model = await DebiasModel.load(fixturePath("gpt2-localized"));
  const evaluator = await model.createEvaluator({ threads: 1 });
  const prompt = model.tokenize("The nurse");
  const pending = evaluator.evaluate({ prompts: [prompt], distributions: [{ prompt: 0, position: -1 }] });
  model.dispose();
  model.dispose();
  await t.rejects(pending, { code: "E_DISPOSED" }, "queued work fails cleanly");
  await t.rejects(evaluator.evaluate({ prompts: [prompt] }), { code: "E_DISPOSED", message: /disposed/ });
  t.throws(() => model.tokenize("x"), { code: "E_DISPOSED" });
  await t.rejects(model.createEvaluator(), { code: "E_DISPOSED" });
});

t.test("an unreadable file is refused before llama.cpp sees it", { skip: process.getuid?.() === 0 ? "root reads everything" : false }, async (t) => {
  const copy = join(scratch, "locked.gguf");
  copyFileSync(fixturePath("gpt2-localized"), copy);
  chmodSync(copy, 0o000);
  await t.rejects(DebiasModel.load(copy), { code: "E_FILE_NOT_FOUND" });
});

t.test("a model whose in-place edit was interrupted is refused with the command that fixes it", async (t) => {
  const { editInPlace } = await import("../../lib/edit/editor.js");
  const { journalPath } = await import("../../lib/edit/journal-path.js");
  const path = join(t.testdir(), "half.gguf");
  copyFileSync(fixturePath("llama-localized"), path);
  await editInPlace(path, [{ layer: 0, index: 1, scale: 0 }]);
  const journal = JSON.parse(readFileSync(journalPath(path), "utf8")) as { entries: { state: string }[] };
  journal.entries[0]!.state = "pending";
  writeFileSync(journalPath(path), JSON.stringify(journal));
  await t.rejects(DebiasModel.load(path), { code: "E_JOURNAL_PENDING", message: /half edited; run `gguf-debias undo .*half\.gguf` to roll it back/ });
  const link = join(dirname(path), "link.gguf");
  linkSync(path, link);
  await t.rejects(DebiasModel.load(link), { code: "E_JOURNAL_PENDING" }, "through a hard link too (the journal is found by device and inode)");
});
