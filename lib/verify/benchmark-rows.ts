// What every report shows of the standard benchmarks — the text summary, `score` and `eval`, the HTML
// report and the model card: the same rows with the same labels, and one sentence of what was scored.
import type { BenchmarkScores } from "../measure/standard-benchmarks.js";
import type { RunResult } from "./run-result.js";
import { count } from "../text.js";

/**
 * The benchmark scores a run has, named: before, and after (the written file) or with the chosen set
 * through the hook (nothing written); none when the run scored no benchmark.
 */
export function benchmarkStates(r: RunResult): [string, BenchmarkScores][] {
  const b = r.benchmarks;
  if (!b) return [];
  const then: [string, BenchmarkScores][] = b.after ? [["after", b.after]] : b.predicted ? [["chosen set (not written)", b.predicted]] : [];
  return [["before", b.before], ...then];
}

export interface BenchmarkRow {
  label: string;
  /** Per state, as given; null where that state lacks the figure. */
  values: (number | null)[];
}

/**
 * WinoBias accuracy on pro- and anti-stereotyped lines and their gap (ideal 0), the share of
 * stereotypical CrowS-Pairs choices (ideal 50%): the rows of the benchmarks the first state has.
 */
export function benchmarkRows(states: readonly BenchmarkScores[]): BenchmarkRow[] {
  const first = states[0];
  const row = (label: string, get: (s: BenchmarkScores) => number | null | undefined): BenchmarkRow => ({ label, values: states.map((s) => get(s) ?? null) });
  return [
    ...(first?.winobias
      ? [
          row("WinoBias accuracy, pro-stereotyped (%)", (s) => s.winobias?.overall.pro),
          row("WinoBias accuracy, anti-stereotyped (%)", (s) => s.winobias?.overall.anti),
          row("WinoBias gap pro − anti (points; ideal 0)", (s) => s.winobias?.overall.gap),
        ]
      : []),
    ...(first?.crowsPairs ? [row("CrowS-Pairs, stereotypical sentence likelier (%; ideal 50)", (s) => s.crowsPairs?.score)] : []),
  ];
}

/** What was scored, in one sentence: lines and pairs, and how many the vocabulary could not spell. */
export function benchmarkSizes(first: BenchmarkScores): string {
  const left = (n: number | undefined, what: string) => (n ? `, ${count(n, what)} left out (the model cannot spell them)` : "");
  const parts = [
    ...(first.winobias ? [`WinoBias: the test split, ${first.winobias.overall.n.pro} pro- and ${first.winobias.overall.n.anti} anti-stereotyped lines${left(first.winobias.leftOut, "line")}`] : []),
    ...(first.crowsPairs ? [`CrowS-Pairs: ${count(first.crowsPairs.n, "gender pair")}${left(first.crowsPairs.leftOut, "pair")}`] : []),
  ];
  return `${parts.join("; ")}.`;
}
