// Evaluation speed, as ratios measured in one run on one machine:
//   1. our evaluation of one prompt vs llama.cpp's own llama-bench prompt processing (pp), built from the
//      same bundle, same model, same threads, same KV type (F16: llama-bench has no F32 cache) and
//      attention path, for each weight type (target ≥ 0.9);
//   2. capturing the FFN activations of every layer vs plain evaluation (target ≤ 1.15);
//   3. many short prompts in one decode vs one long prompt of the same total length.
// Usage: node dist/bench/eval.js [--model FILE] [--types f32,f16,q8_0,q4_k_m] [--tokens 512] [--threads N] [--reps 5] [--gpu-layers N]
// --gpu-layers offloads to a GPU compiled into a source build (GGUF_DEBIAS_CMAKE_ARGS=-DGGML_CUDA=ON), ours
// and llama-bench's alike (-ngl); LLAMA_BENCH then names a llama-bench of the same build
// (-DGGUF_DEBIAS_LLAMA_BENCH=ON builds one beside the addon).
// Without --model it generates a random-weight llama of ~220 MB (8 layers, n_embd 768, n_ff 2048) and
// quantizes it with llama.cpp's quantizer to each of --types: the fixtures are so small that per-call
// overhead, not compute, would dominate every ratio. Ratios 2 and 3 are measured on the first type.
// llama-bench is built once into vendor/build-bench (minutes) unless LLAMA_BENCH names a binary.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { DebiasModel } from "../lib/llama/model.js";
import type { EvaluationRequest, Evaluator } from "../lib/llama/evaluator.js";
import { native } from "../lib/native.js";
import { packageRoot } from "../lib/package-root.js";
import { writeSyntheticLlama } from "./synthetic-model.js";
import { unpackLlamaSource } from "./vendor.js";

// llama_ftype values from llama.h
const FTYPES: Record<string, number> = { f32: 0, f16: 1, q8_0: 7, q4_k_m: 15, q4_0: 2, q6_k: 18 };

const { values: args } = parseArgs({
  options: {
    model: { type: "string" },
    types: { type: "string", default: "f32,f16,q8_0,q4_k_m" },
    tokens: { type: "string", default: "512" },
    threads: { type: "string", default: String(Math.min(availableParallelism(), 8)) },
    reps: { type: "string", default: "5" },
    "gpu-layers": { type: "string", default: "0" },
  },
});
const types = args.types.split(",");
for (const type of types) if (!(type in FTYPES)) throw new Error(`--types: unknown type ${type} (one of ${Object.keys(FTYPES).join(", ")})`);
const scratch = mkdtempSync(join(tmpdir(), "gguf-debias-bench-eval-"));
process.on("exit", () => rmSync(scratch, { recursive: true, force: true }));
const nTokens = Number(args.tokens);
const threads = Number(args.threads);
const reps = Number(args.reps);
const gpuLayers = Number(args["gpu-layers"]);

/** The models to measure, by label: --model as given, or the synthetic llama in each of --types. */
async function models(): Promise<[string, string][]> {
  if (args.model) return [[args.model, args.model]];
  const f32 = join(scratch, "synthetic.f32.gguf");
  await writeSyntheticLlama(f32, { nLayer: 8, nEmbd: 768, nFf: 2048, nHead: 12 });
  const out: [string, string][] = [];
  for (const type of types) {
    const path = type === "f32" ? f32 : join(scratch, `synthetic.${type}.gguf`);
    if (type !== "f32") await native().quantizeFile(f32, path, FTYPES[type]!, threads);
    out.push([type, path]);
  }
  return out;
}
async function llamaBench(): Promise<string> {
  if (process.env.LLAMA_BENCH) return process.env.LLAMA_BENCH;
  const build = join(packageRoot(), "vendor", "build-bench");
  const binary = join(build, "bin", "llama-bench");
  if (!existsSync(binary)) {
    console.error("building llama-bench from vendor/llama.cpp (one time, several minutes)…");
    const source = await unpackLlamaSource();
    execFileSync("cmake", ["-S", source, "-B", build, "-DCMAKE_BUILD_TYPE=Release", "-DBUILD_SHARED_LIBS=OFF", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_SERVER=OFF", "-DLLAMA_OPENSSL=OFF"], { stdio: ["ignore", "ignore", "inherit"] });
    execFileSync("cmake", ["--build", build, "--target", "llama-bench", "-j", String(availableParallelism())], { stdio: ["ignore", "ignore", "inherit"] });
  }
  return binary;
}

// Each figure is the best of --reps timed runs, the reference and ours taking turns: on a machine shared
// with other work, load only ever slows a run down, so the fastest of several is the steadiest estimate.
function referenceOnce(modelPath: string): number {
  const out = execFileSync(llamaBenchBinary, ["-m", modelPath, "-p", String(nTokens), "-n", "0", "-t", String(threads), "-r", "3", "-b", String(nTokens), "-ub", String(nTokens), "-fa", "off", "-ctk", "f16", "-ctv", "f16", "-ngl", String(gpuLayers), "-o", "json"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  const rows = JSON.parse(out) as { samples_ts: number[] }[];
  return Math.max(...rows[0]!.samples_ts);
}

async function oursOnce(evaluator: Evaluator, request: EvaluationRequest): Promise<number> {
  const total = request.prompts.reduce((n, p) => n + p.length, 0);
  const started = process.hrtime.bigint();
  await evaluator.evaluate(request);
  return total / (Number(process.hrtime.bigint() - started) / 1e9);
}

async function tokensPerSecond(evaluator: Evaluator, request: EvaluationRequest): Promise<number> {
  await evaluator.evaluate(request);
  let best = 0;
  for (let i = 0; i < reps; i++) best = Math.max(best, await oursOnce(evaluator, request));
  return best;
}

/** [llama-bench, ours] for one prompt, alternating. */
async function againstReference(modelPath: string, evaluator: Evaluator, request: EvaluationRequest): Promise<[number, number]> {
  await evaluator.evaluate(request);
  let reference = 0;
  let ours = 0;
  for (let i = 0; i < reps; i++) {
    reference = Math.max(reference, referenceOnce(modelPath));
    // llama-bench warms up before it times; the same here, after its run evicted our weights from cache
    await evaluator.evaluate(request);
    ours = Math.max(ours, await oursOnce(evaluator, request));
  }
  return [reference, ours];
}

let seed = 1;
const line = (label: string, value: number, ratio: string) => console.log(`${label.padEnd(58)} ${value.toFixed(0).padStart(9)} tok/s  ${ratio}`);
const info = native().buildInfo();
console.log(`${nTokens} tokens, ${threads} threads, ${gpuLayers} GPU layers, best of ${reps} runs; llama.cpp ${info.llama} ${info.llamaCommit.slice(0, 12)}; devices: ${info.devices.map((d) => d.description).join(", ")}; CPU backend: ${info.systemInfo.match(/CPU : [^|]*(\|[^|]*){0,40}/)?.[0] ?? info.systemInfo}`);
const llamaBenchBinary = await llamaBench();
const list = await models();
for (const [index, [label, modelPath]] of list.entries()) {
  const model = await DebiasModel.load(modelPath, { gpuLayers });
  const { nLayer, nVocab } = model.facts;
  const evaluator = await model.createEvaluator({ nCtx: nTokens, nSeqMax: 64, threads, kvType: "f16" });
  const random = (n: number) => Int32Array.from({ length: n }, () => 3 + ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % (nVocab - 3)));
  const long = { prompts: [random(nTokens)] };
  const [reference, plain] = await againstReference(modelPath, evaluator, long);
  console.log(`model ${label} (${model.facts.description})`);
  line("  llama-bench pp (same bundle, F16 KV, no flash attention)", reference, "reference");
  line("  evaluate: one prompt", plain, `ratio vs llama-bench ${(plain / reference).toFixed(3)} (target ≥ 0.9)`);
  if (index === 0) {
    const short = { prompts: Array.from({ length: 64 }, () => random(nTokens / 64)) };
    const layers = Array.from({ length: nLayer }, (_, l) => l);
    const last = (r: { prompts: Int32Array[] }) => r.prompts.map((_, prompt) => ({ prompt, position: -1 }));
    const every = (r: { prompts: Int32Array[] }) => r.prompts.flatMap((p, prompt) => Array.from(p, (_, position) => ({ prompt, position })));
    const captureLast = await tokensPerSecond(evaluator, { ...long, capture: { layers, at: last(long) } });
    const captureAll = await tokensPerSecond(evaluator, { ...long, capture: { layers, at: every(long) } });
    const batched = await tokensPerSecond(evaluator, short);
    const batchedCapture = await tokensPerSecond(evaluator, { ...short, capture: { layers, at: last(short) } });
    const exact = await model.createEvaluator({ nCtx: nTokens, nSeqMax: 64, threads });
    const plainF32 = await tokensPerSecond(exact, long);
    line("  evaluate: one prompt, capture all layers at last position", captureLast, `time ratio vs plain ${(plain / captureLast).toFixed(3)} (target ≤ 1.15)`);
    line("  evaluate: one prompt, capture all layers at every position", captureAll, `time ratio vs plain ${(plain / captureAll).toFixed(3)}`);
    line("  evaluate: one prompt, F32 KV (the default for measuring)", plainF32, `ratio vs F16 KV ${(plainF32 / plain).toFixed(3)}`);
    line(`  evaluate: 64 prompts × ${nTokens / 64} tokens in one decode`, batched, `ratio vs llama-bench ${(batched / reference).toFixed(3)}`);
    line("  evaluate: 64 prompts, capture all layers at last positions", batchedCapture, `time ratio vs batched ${(batched / batchedCapture).toFixed(3)} (target ≤ 1.15)`);
  }
  model.dispose();
}
