#!/usr/bin/env node
// Checks that two builds of the addon compute the same numbers, byte for byte: e.g. the node-gyp build
// (binding.gyp) against the cmake-js one (CMakeLists.txt). Each addon runs in its own process, evaluates
// every reference prompt of the trained F32 fixtures in one batch (1 thread, F32 KV cache), once plain
// and once with two neurons scaled, and writes log-probs, log-softmax rows, FFN activations and the final
// residual; the files must be identical. Both run on A's CPU backend (the one compiled for this CPU at
// install, where A has it), so what is compared is the addon, not two CPU backends.
//   node vendor/compare-builds.mjs <build/Release of addon A> <build/Release of addon B> [fixture ...]
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const fixtures = join(root, "test", "fixtures");
const HOOK = { llama: "ffn_swiglu", gpt2: "ffn_gelu" };

function stampOf(release) {
  return JSON.parse(readFileSync(join(release, "build-info.json"), "utf8"));
}

async function dump(release, cpu, out, names) {
  const addon = createRequire(import.meta.url)(join(release, "gguf_debias.node"));
  const stamp = stampOf(release);
  if (stamp.llama === "prebuilt") {
    if (cpu) addon.loadBackends(cpu, true);
    else addon.loadBackends(stamp.prebuiltDir);
  }
  const manifest = JSON.parse(readFileSync(join(fixtures, "manifest.json"), "utf8"));
  const chunks = [];
  for (const name of names) {
    const spec = manifest.models[name];
    const model = await addon.loadModel(join(fixtures, spec.file), 0, true);
    const facts = model.facts();
    const prompts = spec.reference.prompts.map((p) => Int32Array.from(p.tokens));
    const seqStarts = new Int32Array(prompts.length + 1);
    prompts.forEach((p, s) => (seqStarts[s + 1] = seqStarts[s] + p.length));
    const tokens = new Int32Array(seqStarts[prompts.length]);
    prompts.forEach((p, s) => tokens.set(p, seqStarts[s]));
    const rows = Int32Array.from(tokens, (_, i) => i);
    const context = await model.createContext({ nCtx: 1024, nSeqMax: 64, threads: 1, kvType: "f32", flashAttn: false, hookTensor: HOOK[facts.arch] });
    for (const scaled of [false, true]) {
      const result = await context.evaluate({
        tokens, seqStarts, outputs: rows,
        targetRows: rows, targetTokens: Int32Array.from(tokens, (_, i) => tokens[(i + 1) % tokens.length]),
        distributionRows: rows,
        captureLayers: Int32Array.from({ length: facts.nLayer }, (_, l) => l), captureRows: rows,
        captureNames: [`l_out-${facts.nLayer - 1}`],
        interventions: scaled ? [{ layer: 1, neurons: Int32Array.of(3, 7), scales: Float32Array.of(0, 2.5) }] : [],
      });
      for (const a of [result.logprobs, result.distributions, result.activations, ...result.named.map((n) => n.values)]) {
        chunks.push(Buffer.from(a.buffer, a.byteOffset, a.byteLength));
      }
      console.error(`${release}: ${name}${scaled ? " (2 neurons scaled)" : ""}: ${result.logprobs.length} log-probs, ${result.activations.length} activations, ${result.distributions.length} log-softmax values`);
    }
    context.dispose();
    model.dispose();
  }
  writeFileSync(out, Buffer.concat(chunks));
}

if (process.argv[2] === "--dump") {
  await dump(resolve(process.argv[3]), process.argv[4], process.argv[5], process.argv.slice(6));
} else {
  const [a, b, ...rest] = process.argv.slice(2);
  if (!a || !b) {
    console.error("usage: node vendor/compare-builds.mjs <release dir A> <release dir B> [fixture ...]");
    process.exit(2);
  }
  const names = rest.length > 0 ? rest : ["llama-localized", "gpt2-localized"];
  const dir = mkdtempSync(join(tmpdir(), "gguf-debias-compare-"));
  const first = stampOf(a);
  const cpu = first.cpuBackend ? join(resolve(a), first.cpuBackend) : "";
  const digests = [a, b].map((release, k) => {
    const out = join(dir, `${k}.bin`);
    execFileSync(process.execPath, [fileURLToPath(import.meta.url), "--dump", release, cpu, out, ...names], { stdio: "inherit" });
    const bytes = readFileSync(out);
    return { bytes, sha: createHash("sha256").update(bytes).digest("hex") };
  });
  const same = digests[0].bytes.equals(digests[1].bytes);
  console.log(`${names.join(", ")}: ${digests[0].bytes.length} vs ${digests[1].bytes.length} bytes, sha256 ${digests[0].sha.slice(0, 16)} vs ${digests[1].sha.slice(0, 16)}: ${same ? "identical" : "DIFFERENT"}`);
  process.exit(same ? 0 : 1);
}
