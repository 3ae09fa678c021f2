// What a run costs as models grow: llama-architecture models of several sizes (the bundled fixture and
// random-weight ~100M, ~0.5B and ~1B-parameter ones, Q4_K; generated here, never committed), each measured
// in a child process of its own (so peak RSS is the model's), with the bundled CommonWords dataset:
// load time, one pass (every selection probe and the neutral text: the unit a run's cost is counted in),
// two single-neuron screening edits (not on 1b: two more passes there), tokens per pass and peak RSS. The
// passes of a fixture run — fast search about 15, thorough about 430 — turn these into projected run times
// per size, and a power law fitted over the sizes says how time grows with parameters. Full runs of the
// random-weight models would stop early (they know no gender): their run time is projected from
// measured passes, and printed as such.
//
// --vocab llama3 gives the synthetic models Llama 3's 128k tokenizer (llama.cpp's vocabulary-only
// models/ggml-vocab-llama-bpe.gguf, from the vendored source), so the dataset tokenizes as on a real
// model; the default is the fixture's 824-token vocabulary, which splits most words into pieces.
//
// --gpu-layers offloads to a GPU compiled into a source build (GGUF_DEBIAS_CMAKE_ARGS=-DGGML_CUDA=ON).
//
//   node dist/bench/scale.js [--sizes fixture,100m,500m,1b] [--vocab fixture|llama3] [--threads N] [--fast-passes P] [--thorough-passes P] [--gpu-layers N]
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { causalEffects } from "../lib/locate/causal.js";
import { native } from "../lib/native.js";
import { packageRoot } from "../lib/package-root.js";
import { openSession } from "../lib/measure/session.js";
import { selectionBaseline } from "../lib/locate/baseline.js";
import { defaultWorkload } from "../lib/measure/workload.js";
import { writeSyntheticLlama, type SyntheticShape } from "./synthetic-model.js";
import { unpackLlamaSource } from "./vendor.js";

const SHAPES: Record<string, SyntheticShape> = {
  "100m": { nLayer: 12, nEmbd: 768, nFf: 3072, nHead: 12 },
  "500m": { nLayer: 16, nEmbd: 1536, nFf: 4096, nHead: 16 },
  // Llama 3.2 1B's shape: grouped-query attention, output tied to the token embedding
  "1b": { nLayer: 16, nEmbd: 2048, nFf: 8192, nHead: 32, nHeadKv: 8, tied: true },
};
const Q4_K = 15; // llama_ftype MOSTLY_Q4_K_M

interface Measured {
  size: string;
  params: number;
  fileMb: number;
  loadSeconds: number;
  passSeconds: number;
  tokensPerPass: number;
  screenSecondsPerEdit: number | null;
  peakRssMb: number;
}

/** The child: one model, measured. */
async function measure(size: string, path: string, threads: number, gpuLayers: number): Promise<Measured> {
  const t0 = performance.now();
  const { dataset, neutralText } = await defaultWorkload();
  const session = await openSession(path, { dataset, neutralText }, { threads, gpuLayers });
  const loadSeconds = (performance.now() - t0) / 1000;
  try {
    const base = await selectionBaseline(session);
    const edit = (i: number) => [{ layer: i % session.model.facts.nLayer, index: i * 7, scale: 0 }];
    // one pass: the selection probes and the neutral text under one edit, as every search step costs
    const before = session.evaluator.tokensEvaluated;
    const t1 = performance.now();
    await causalEffects(session.evaluator, base, [edit(0)]);
    const passSeconds = (performance.now() - t1) / 1000;
    const tokensPerPass = session.evaluator.tokensEvaluated - before;
    let screenSecondsPerEdit: number | null = null;
    if (size !== "1b") {
      const edits = Array.from({ length: 2 }, (_, i) => edit(i + 1));
      const t2 = performance.now();
      await causalEffects(session.evaluator, base, edits);
      screenSecondsPerEdit = (performance.now() - t2) / 1000 / edits.length;
    }
    return {
      size, params: session.model.facts.nParams, fileMb: statSync(path).size / 2 ** 20, loadSeconds, passSeconds, tokensPerPass, screenSecondsPerEdit,
      peakRssMb: process.resourceUsage().maxRSS / 1024,
    };
  } finally {
    session.model.dispose();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { sizes: { type: "string", default: "fixture,100m,500m" }, threads: { type: "string", default: String(availableParallelism()) }, vocab: { type: "string", default: "fixture" }, "fast-passes": { type: "string", default: "15" }, "thorough-passes": { type: "string", default: "430" }, child: { type: "string" }, model: { type: "string" }, "gpu-layers": { type: "string", default: "0" } } });
  const threads = Number(values.threads);
  if (values.child) {
    process.stdout.write(`${JSON.stringify(await measure(values.child, values.model!, threads, Number(values["gpu-layers"])))}\n`);
    return;
  }
  const scratch = mkdtempSync(join(tmpdir(), "gguf-debias-scale-"));
  const rows: Measured[] = [];
  try {
    for (const size of values.sizes!.split(",")) {
      let path = join(packageRoot(), "test", "fixtures", "llama-localized.q4_k.gguf");
      if (size !== "fixture") {
        const f32 = join(scratch, `${size}.f32.gguf`);
        await writeSyntheticLlama(f32, SHAPES[size]!, 1, values.vocab === "llama3" ? join(await unpackLlamaSource(), "models", "ggml-vocab-llama-bpe.gguf") : undefined);
        path = join(scratch, `${size}.q4_k.gguf`);
        await native().quantizeFile(f32, path, Q4_K, threads);
        rmSync(f32);
      }
      const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), "--child", size, "--model", path, "--threads", String(threads), "--gpu-layers", values["gpu-layers"]], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
      rows.push(JSON.parse(out.trim().split("\n").at(-1)!) as Measured);
      if (size !== "fixture") rmSync(path);
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const fast = Number(values["fast-passes"]);
  const thorough = Number(values["thorough-passes"]);
  const duration = (seconds: number) => (seconds > 3600 ? `${(seconds / 3600).toFixed(1)} h` : `${(seconds / 60).toFixed(1)} min`);
  console.log(`scale: ${threads} threads, ${values["gpu-layers"]} GPU layers, CommonWords, ${values.vocab} vocabulary for synthetic models (tokens a pass: ${rows.map((r) => `${r.size} ${r.tokensPerPass}`).join(", ")}); projected run = load + passes × pass time (fast search ${fast} passes, thorough ${thorough})`);
  console.log(["size", "params", "file MB", "load s", "pass s", "tok/s", "screen s/edit", "peak RSS MB", "RSS − file MB", "fast run", "thorough run"].join("\t"));
  for (const r of rows) {
    console.log([r.size, `${(r.params / 1e6).toFixed(1)}M`, r.fileMb.toFixed(0), r.loadSeconds.toFixed(1), r.passSeconds.toFixed(2), (r.tokensPerPass / r.passSeconds).toFixed(0), r.screenSecondsPerEdit?.toFixed(2) ?? "–", r.peakRssMb.toFixed(0), (r.peakRssMb - r.fileMb).toFixed(0), duration(r.loadSeconds + fast * r.passSeconds), duration(r.loadSeconds + thorough * r.passSeconds)].join("\t"));
  }
  if (rows.length >= 2) {
    // least squares on log(pass seconds) against log(parameters)
    const xs = rows.map((r) => Math.log(r.params));
    const ys = rows.map((r) => Math.log(r.passSeconds));
    const mx = xs.reduce((a, b) => a + b) / xs.length;
    const my = ys.reduce((a, b) => a + b) / ys.length;
    const slope = xs.reduce((s, x, i) => s + (x - mx) * (ys[i]! - my), 0) / xs.reduce((s, x) => s + (x - mx) ** 2, 0);
    const at1b = Math.exp(my + slope * (Math.log(1e9) - mx));
    console.log(`pass time grows as params^${slope.toFixed(2)}; at 1B parameters: ${at1b.toFixed(0)} s a pass: a fast run ${duration(fast * at1b)}, a thorough one ${duration(thorough * at1b)} (fitted)`);
  }
}

await main();
