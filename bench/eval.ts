// Evaluation speed, as ratios measured in one run on one machine:
//   1. our batched evaluation vs llama.cpp's own llama-bench prompt processing (pp), built from the same
//      bundle, same model, same threads, same KV type (F16: llama-bench has no F32 cache) and attention
//      path (target ≥ 0.9);
//   2. capturing the FFN activations of every layer vs plain evaluation (target ≤ 1.15);
//   3. many short prompts in one decode vs one long prompt of the same total length.
// Usage: node dist/bench/eval.js [--model FILE] [--tokens 512] [--threads N] [--reps 5]
// Without --model it generates a random-weight llama of ~220 MB (8 layers, n_embd 768, n_ff 2048): the
// fixtures are so small that per-call overhead, not compute, would dominate every ratio.
// llama-bench is built once into vendor/build-bench (minutes) unless LLAMA_BENCH names a binary.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { DebiasModel } from "../lib/llama/model.js";
import type { EvaluationRequest, Evaluator } from "../lib/llama/evaluator.js";
import { packageRoot } from "../lib/package-root.js";
import { writeSyntheticLlama } from "./synthetic-model.js";
import { unpackLlamaSource } from "./vendor.js";

const { values: args } = parseArgs({
  options: {
    model: { type: "string" },
    tokens: { type: "string", default: "512" },
    threads: { type: "string", default: String(Math.min(availableParallelism(), 8)) },
    reps: { type: "string", default: "5" },
  },
});
const scratch = mkdtempSync(join(tmpdir(), "gguf-debias-bench-eval-"));
process.on("exit", () => rmSync(scratch, { recursive: true, force: true }));
const modelPath = args.model ?? join(scratch, "synthetic.gguf");
if (!args.model) await writeSyntheticLlama(modelPath, { nLayer: 8, nEmbd: 768, nFf: 2048, nHead: 12 });
const nTokens = Number(args.tokens);
const threads = Number(args.threads);
const reps = Number(args.reps);

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

async function referenceTokensPerSecond(): Promise<number> {
  const out = execFileSync(await llamaBench(), ["-m", modelPath, "-p", String(nTokens), "-n", "0", "-t", String(threads), "-r", String(reps), "-b", String(nTokens), "-ub", String(nTokens), "-fa", "off", "-ctk", "f16", "-ctv", "f16", "-o", "json"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  const rows = JSON.parse(out) as { avg_ts: number }[];
  return rows[0]!.avg_ts;
}

async function tokensPerSecond(evaluator: Evaluator, request: EvaluationRequest): Promise<number> {
  const total = request.prompts.reduce((n, p) => n + p.length, 0);
  await evaluator.evaluate(request);
  const started = process.hrtime.bigint();
  for (let i = 0; i < reps; i++) await evaluator.evaluate(request);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return (total * reps) / seconds;
}

const model = await DebiasModel.load(modelPath);
const { nLayer, nVocab } = model.facts;
const evaluator = await model.createEvaluator({ nCtx: nTokens, nSeqMax: 64, threads, kvType: "f16" });
const exact = await model.createEvaluator({ nCtx: nTokens, nSeqMax: 64, threads });
let seed = 1;
const random = (n: number) => Int32Array.from({ length: n }, () => 3 + ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % (nVocab - 3)));
const long = { prompts: [random(nTokens)] };
const short = { prompts: Array.from({ length: 64 }, () => random(nTokens / 64)) };
const layers = Array.from({ length: nLayer }, (_, l) => l);
const last = (r: { prompts: Int32Array[] }) => r.prompts.map((_, prompt) => ({ prompt, position: -1 }));
const every = (r: { prompts: Int32Array[] }) => r.prompts.flatMap((p, prompt) => Array.from(p, (_, position) => ({ prompt, position })));

const reference = await referenceTokensPerSecond();
const plain = await tokensPerSecond(evaluator, long);
const captureLast = await tokensPerSecond(evaluator, { ...long, capture: { layers, at: last(long) } });
const captureAll = await tokensPerSecond(evaluator, { ...long, capture: { layers, at: every(long) } });
const batched = await tokensPerSecond(evaluator, short);
const batchedCapture = await tokensPerSecond(evaluator, { ...short, capture: { layers, at: last(short) } });
const plainF32 = await tokensPerSecond(exact, long);
model.dispose();

const line = (label: string, value: number, ratio: string) => console.log(`${label.padEnd(58)} ${value.toFixed(0).padStart(9)} tok/s  ${ratio}`);
console.log(`model ${args.model ?? "synthetic"} (${model.facts.description}), ${nTokens} tokens, ${threads} threads, ${reps} reps`);
line("llama-bench pp (same bundle, F16 KV, no flash attention)", reference, "reference");
line("evaluate: one prompt", plain, `ratio vs llama-bench ${(plain / reference).toFixed(3)} (target ≥ 0.9)`);
line("evaluate: one prompt, capture all layers at last position", captureLast, `time ratio vs plain ${(plain / captureLast).toFixed(3)} (target ≤ 1.15)`);
line("evaluate: one prompt, capture all layers at every position", captureAll, `time ratio vs plain ${(plain / captureAll).toFixed(3)}`);
line("evaluate: one prompt, F32 KV (the default for measuring)", plainF32, `ratio vs F16 KV ${(plainF32 / plain).toFixed(3)}`);
line(`evaluate: 64 prompts × ${nTokens / 64} tokens in one decode`, batched, `ratio vs llama-bench ${(batched / reference).toFixed(3)}`);
line("evaluate: 64 prompts, capture all layers at last positions", batchedCapture, `time ratio vs batched ${(batched / batchedCapture).toFixed(3)} (target ≤ 1.15)`);
