// The cost of an edit follows the neurons edited, not the model size. For 100 neurons, on the largest
// fixture and on a generated ~1 GB model: bytes written and time of an in-place (journaled) edit vs a
// full copy of the file, as ratios measured in this run. Usage: node dist/bench/edit.js [--gb 1]
import { closeSync, copyFileSync, fsyncSync, mkdtempSync, openSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { editInPlace, undo } from "../lib/edit/editor.js";
import { editToNewFile } from "../lib/edit/new-file.js";
import { packageRoot } from "../lib/package-root.js";
import { writeSyntheticLlama } from "./synthetic-model.js";

const { values: args } = parseArgs({ options: { gb: { type: "string", default: "1" } } });
const scratch = mkdtempSync(join(tmpdir(), "gguf-debias-bench-edit-"));

function seconds(started: bigint): number {
  return Number(process.hrtime.bigint() - started) / 1e9;
}

// Durable, as the in-place edit is. Also used to set up: an fsync inside the timed edit must not
// flush pages left dirty by writing the model.
function durableCopy(from: string, to: string): void {
  copyFileSync(from, to);
  const fd = openSync(to, "r+");
  fsyncSync(fd);
  closeSync(fd);
}

async function measure(label: string, source: string, nLayer: number, nFf: number): Promise<void> {
  const model = join(scratch, "model.gguf");
  durableCopy(source, model);
  const edits = Array.from({ length: 100 }, (_, k) => ({ layer: k % nLayer, index: (k * 7919) % nFf, scale: k % 2 === 0 ? 0 : 0.5 }));
  let started = process.hrtime.bigint();
  const inPlace = await editInPlace(model, edits);
  const inPlaceSeconds = seconds(started);
  await undo(model);
  started = process.hrtime.bigint();
  durableCopy(model, join(scratch, "copy.gguf"));
  const copySeconds = seconds(started);
  started = process.hrtime.bigint();
  await editToNewFile(model, join(scratch, "edited.gguf"), edits, { overwrite: true });
  const newFileSeconds = seconds(started);
  const size = statSync(model).size;
  console.log(`${label}: ${(size / 2 ** 20).toFixed(1)} MiB, 100 neurons`);
  console.log(`  in-place edit  ${String(inPlace.bytesWritten).padStart(12)} bytes  ${inPlaceSeconds.toFixed(3)} s`);
  console.log(`  durable copy     ${String(size).padStart(12)} bytes  ${copySeconds.toFixed(3)} s`);
  console.log(`  edit to a new file (copy + patches + provenance)  ${newFileSeconds.toFixed(3)} s`);
  console.log(`  ratio in-place / copy: bytes ${(inPlace.bytesWritten / size).toExponential(2)}, time ${(inPlaceSeconds / copySeconds).toFixed(3)}`);
  rmSync(join(scratch, "copy.gguf"));
  rmSync(join(scratch, "edited.gguf"));
}

try {
  await measure("largest fixture (llama-localized F32)", join(packageRoot(), "models", "llama-localized.f32.gguf"), 4, 512);
  const nEmbd = 1024;
  const nFf = 4096;
  const perLayer = (4 * nEmbd * nEmbd + 3 * nEmbd * nFf) * 4;
  const nLayer = Math.max(1, Math.round((Number(args.gb) * 2 ** 30) / perLayer));
  const big = join(scratch, "big.gguf");
  await writeSyntheticLlama(big, { nLayer, nEmbd, nFf, nHead: 16 });
  await measure(`generated llama, ${nLayer} layers`, big, nLayer, nFf);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
