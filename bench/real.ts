// The method judged where it matters: `run` on every real model in ../shared/models (weights nobody on
// this project trained) with the bundled story probes, one row per model and search. Print it for every
// method change.
//   node dist/bench/real.js [--search auto|fast|thorough|exhaustive ...] [--max-kl K] [--threads N] [model.gguf ...]
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { packageRoot } from "../lib/package-root.js";
import { run } from "../lib/pipeline.js";
import type { RunResult } from "../lib/verify/run-result.js";
import { defaultWorkload } from "../lib/measure/workload.js";
import type { SearchKind } from "../lib/select/selection.js";

const args = process.argv.slice(2);
const option = (name: string): string[] => args.flatMap((a, i) => (a === `--${name}` && args[i + 1] ? [args[i + 1]!] : []));
const searches = (option("search").length ? option("search") : ["auto"]) as (SearchKind | "auto")[];
const maxKl = option("max-kl").length ? Number(option("max-kl")[0]) : undefined;
const threads = option("threads").length ? Number(option("threads")[0]) : 1;
const given = args.filter((a, i) => !a.startsWith("--") && !args[i - 1]?.startsWith("--"));
const shared = join(packageRoot(), "..", "shared", "models");
const models = given.length ? given : existsSync(shared) ? readdirSync(shared).filter((f) => f.endsWith(".gguf")).sort().map((f) => join(shared, f)) : [];
if (models.length === 0) {
  console.log("no real models: ../shared/models is absent and none was named");
  process.exit(0);
}
const workload = await defaultWorkload(join(packageRoot(), "data", "tinystories.json"));
const scratch = mkdtempSync(join(tmpdir(), "gguf-debias-bench-real-"));

const f3 = (v: number | null | undefined) => (v === null || v === undefined ? "–" : v.toFixed(3));
const pct = (v: number) => `${v >= 0 ? "+" : "−"}${Math.abs(100 * v).toFixed(1)}%`;
const row = (model: string, search: string, r: RunResult, seconds: number): string[] => {
  const b = r.before.splits.heldout;
  // what the chosen set does on held-out probes: the written file, or the prediction when nothing was written
  const a = (r.written ? r.after : (r.predicted ?? r.after)).splits.heldout;
  const change = (x: number | null, y: number | null) => (x && y !== null ? pct(y / x - 1) : "–");
  return [
    basename(model),
    r.selection?.search ?? search,
    r.verdict.kind,
    `${f3(b.stereotypeGap)} ± ${f3(b.stereotypeGapSe)} → ${f3(a.stereotypeGap)} (${change(b.stereotypeGap, a.stereotypeGap)})`,
    `${f3(b.factualAccuracy)} → ${f3(a.factualAccuracy)}`,
    `${f3(b.factualMargin)} → ${f3(a.factualMargin)} (${change(b.factualMargin, a.factualMargin)})`,
    r.selection ? r.selection.effect.kl.toExponential(2) : "–",
    String(r.selected.length),
    r.randomSets?.heldout?.z?.toFixed(1) ?? "–",
    r.written ? "yes" : "no",
    r.cost.passes.toFixed(1),
    seconds.toFixed(0),
  ];
};

const rows: string[][] = [["model", "search", "verdict", "held-out gap (chosen set)", "factual acc", "factual margin", "KL", "neurons", "z", "written", "passes", "s"]];
try {
  for (const model of models) {
    for (const search of searches) {
      const t0 = performance.now();
      const result = await run(model, workload, { output: join(scratch, `${basename(model)}.${search}.gguf`), overwrite: true, search, ...(maxKl === undefined ? {} : { maxKl }), evaluator: { threads } });
      rows.push(row(model, search, result, (performance.now() - t0) / 1000));
      console.log(rows.at(-1)!.join(" | "));
      console.log(`  ${result.verdict.sentence}`);
    }
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
console.log(`\n| ${rows[0]!.join(" | ")} |\n|${rows[0]!.map(() => "---").join("|")}|\n${rows.slice(1).map((r) => `| ${r.join(" | ")} |`).join("\n")}`);
