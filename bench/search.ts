// The two searches side by side on the fixtures with planted ground truth: what each costs (passes,
// seconds) and what it achieves (verdict, held-out stereotype gap, KL, planted share of the edit).
//   node dist/bench/search.js [--fast-only] [fixture.type ...]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { neuronKey } from "../lib/locate/neurons.js";
import { run } from "../lib/pipeline.js";
import type { RunResult } from "../lib/verify/run-result.js";
import { defaultWorkload } from "../lib/measure/workload.js";
import { fixturePath, manifest, type FixtureType } from "../test/helpers/fixtures.js";

const args = process.argv.slice(2);
const fastOnly = args.includes("--fast-only");
const wanted = args.filter((a) => !a.startsWith("--"));
const fixtures = wanted.length ? wanted : ["llama-localized.f32", "llama-localized.q4_k", "gpt2-localized.f32", "llama-distributed.f32", "gpt2-distributed.f32", "llama-prior.f32"];
const workload = await defaultWorkload("demo");
const scratch = mkdtempSync(join(tmpdir(), "gguf-debias-bench-search-"));

const row = (name: string, search: string, r: RunResult, seconds: number) => {
  const planted = new Set((manifest.models[name.split(".")[0]!].designatedNeurons ?? []).map(neuronKey));
  const gap = (s: RunResult["before"]) => s.splits.heldout.stereotypeGap;
  const before = gap(r.before), after = gap(r.predicted ?? r.after);
  const reduction = before && after !== null ? 1 - Math.abs(after) / Math.abs(before) : 0;
  return [name, search, r.verdict.kind, r.cost.passes.toFixed(1), seconds.toFixed(1), `${before?.toFixed(3)} → ${after?.toFixed(3)} (−${(100 * reduction).toFixed(1)}%)`, r.selection?.effect.kl.toExponential(1) ?? "–", `${r.selected.length} (${r.selected.filter((n) => planted.has(neuronKey(n))).length})`, r.randomSets?.heldout?.z?.toFixed(1) ?? "–"];
};

const rows: string[][] = [["fixture", "search", "verdict", "passes", "seconds", "held-out gap (chosen set)", "KL", "set (planted)", "z"]];
try {
  for (const fixture of fixtures) {
    const [name, type] = fixture.split(".") as [string, string];
    for (const search of fastOnly ? (["fast"] as const) : (["fast", "thorough"] as const)) {
      const t0 = performance.now();
      const result = await run(fixturePath(name, type as FixtureType), workload, { output: join(scratch, `${fixture}.${search}.gguf`), overwrite: true, search, evaluator: { threads: 1 } });
      rows.push(row(fixture, search, result, (performance.now() - t0) / 1000));
      console.log(rows.at(-1)!.join(" | "));
    }
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
console.log(`\n| ${rows[0]!.join(" | ")} |\n|${rows[0]!.map(() => "---").join("|")}|\n${rows.slice(1).map((r) => `| ${r.join(" | ")} |`).join("\n")}`);
