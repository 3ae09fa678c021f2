// Hostile headers against the commands that read them: each case is the real llama fixture with a
// header blown up in one way (100k tiny KVs; ~62 MB of short strings; ~62 MB of one-byte nested
// arrays; a 213 MB string array), run through `inspect --json` and through `score`'s loading step
// (DebiasModel.load: header checks, llama.cpp's loader) in a child process each, with
// /usr/bin/time's wall time and peak RSS. The same runs on the untouched fixture are the reference.
// Target: ≤ 2 s and ≤ 256 MB for any header ≤ 64 MB.
//
//   node dist/bench/hostile-headers.js
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GgufValueType as V, type GgufArray, type GgufKv } from "../lib/gguf/format.js";
import { openGguf } from "../lib/gguf/reader.js";
import { reheader } from "../lib/gguf/writer.js";
import { packageRoot } from "../lib/package-root.js";

const root = packageRoot();
const fixture = join(root, "models", "llama-localized.f32.gguf");
const cli = join(root, "dist", "bin", "gguf-debias.js");
const scratch = mkdtempSync(join(tmpdir(), "gguf-debias-hostile-"));

const strings = (n: number, at: (i: number) => string): GgufArray => ({ itemType: V.STRING, items: Array.from({ length: n }, (_, i) => at(i)) });

function cases(): Record<string, GgufKv[]> {
  return {
    "100k metadata keys": Array.from({ length: 100_000 }, (_, i) => ({ key: `hostile.key.${i}`, type: V.UINT32, value: i })),
    "62 MB of short strings": [{ key: "hostile.strings", type: V.ARRAY, value: strings(4_000_000, (i) => `s${i % 100_000}`) }],
    "62 MB of nested one-byte arrays": [{
      key: "hostile.nested", type: V.ARRAY,
      value: { itemType: V.ARRAY, items: Array.from({ length: 4_700_000 }, () => ({ itemType: V.UINT8, items: Uint8Array.of(1) })) },
    }],
    "213 MB of strings": [{ key: "hostile.huge", type: V.ARRAY, value: strings(13_000_000, (i) => `t${i % 100_000}`) }],
  };
}

interface Measured {
  seconds: number;
  rssMb: number;
  outcome: string;
}

function measure(args: string[]): Measured {
  const r = spawnSync("/usr/bin/time", ["-f", "%e %M", process.execPath, ...args], { encoding: "utf8", maxBuffer: 1 << 28 });
  const [seconds, kb] = r.stderr.trim().split("\n").at(-1)!.split(" ").map(Number);
  const code = /"code":\s*"(E_[A-Z_]+)"/.exec(r.stdout)?.[1] ?? /(E_[A-Z_]+)/.exec(r.stdout + r.stderr)?.[1];
  return { seconds: seconds!, rssMb: kb! / 1024, outcome: r.status === 0 ? "ok" : code ?? `exit ${r.status ?? r.signal}` };
}

const loadScript = join(scratch, "load.mjs");
writeFileSync(loadScript, `
const { DebiasModel } = await import(${JSON.stringify(join(root, "dist", "lib", "llama", "model.js"))});
try { (await DebiasModel.load(process.argv[2])).dispose(); } catch (err) { console.log(JSON.stringify({ error: { code: err.code } })); process.exitCode = 1; }
`);

async function main(): Promise<void> {
  const bytes = readFileSync(fixture);
  const file = await openGguf(fixture);
  const rows: string[][] = [["case", "header MB", "inspect s", "inspect MB", "inspect", "load s", "load MB", "load"]];
  const run = (name: string, path: string, headerBytes: number): void => {
    const inspect = measure([cli, "inspect", path, "--json"]);
    const load = measure([loadScript, path]);
    rows.push([name, (headerBytes / 1e6).toFixed(1), inspect.seconds.toFixed(2), inspect.rssMb.toFixed(0), inspect.outcome, load.seconds.toFixed(2), load.rssMb.toFixed(0), load.outcome]);
  };
  run("untouched fixture (reference)", fixture, file.dataOffset);
  for (const [name, kvs] of Object.entries(cases())) {
    const header = reheader(file, bytes.subarray(0, file.dataOffset), kvs);
    const path = join(scratch, "hostile.gguf");
    writeFileSync(path, Buffer.concat([header, bytes.subarray(file.dataOffset)]));
    run(name, path, header.length);
    rmSync(path);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const r of rows) console.log(r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  "));
  rmSync(scratch, { recursive: true, force: true });
}

await main();
