// The thread default, measured: one selection-sized probe pass (the fixture's dataset and neutral text) with
// 1 thread vs every core, on an idle machine and with every core but one kept busy by other processes
// (a laptop running other work). Prints time ratios against the 1-thread run of the same condition, and
// the thread count the default (free cores by load average) picks at the end of each condition.
// Usage: node dist/bench/threads.js [--model FILE] [--reps 5]   (default: the embedded fixture model)
import { fork } from "node:child_process";
import { availableParallelism, loadavg } from "node:os";
import { parseArgs } from "node:util";
import { withSession } from "../lib/measure/session.js";
import { defaultWorkload } from "../lib/measure/workload.js";
import { defaultThreads } from "../lib/llama/facts.js";
import { defaultModelPath } from "../lib/measure/workload-for.js";

const { values: args } = parseArgs({ options: { model: { type: "string" }, reps: { type: "string", default: "5" }, spin: { type: "boolean", default: false } } });
if (args.spin) for (;;);

const path = args.model ?? defaultModelPath();
const cores = availableParallelism();
const workload = await defaultWorkload("demo");

async function seconds(threads: number): Promise<number> {
  return withSession(path, workload, { threads }, async (session) => {
    await session.probes.measure(session.evaluator);
    const start = performance.now();
    for (let i = 0; i < Number(args.reps); i++) {
      await session.probes.measure(session.evaluator);
      await session.neutral.run(session.evaluator);
    }
    return (performance.now() - start) / 1000 / Number(args.reps);
  });
}

for (const busy of [0, cores - 1]) {
  const spinners = Array.from({ length: busy }, () => fork(process.argv[1]!, ["--spin"]));
  const one = await seconds(1);
  const all = await seconds(cores);
  const chosen = defaultThreads();
  for (const s of spinners) s.kill();
  console.log(`${busy} of ${cores} cores busy: 1 thread ${one.toFixed(3)} s/pass; ${cores} threads ${all.toFixed(3)} s/pass = ${(all / one).toFixed(2)}× the 1-thread time; the default now picks ${chosen} (load average ${loadavg()[0]!.toFixed(2)}, which lags by about a minute)`);
}
