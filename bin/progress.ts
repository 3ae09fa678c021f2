// Progress on stderr, never stdout (which --json keeps for the result), so --json does not silence it;
// only --quiet does. On a terminal one live bar (cli-progress) that always fits the line: the stage of a
// run ("stage 2 of 6"), the step, the count and an ETA, the step's name cut short first; a one-step
// stage shows no count or ETA, having none to show. Elsewhere (logs, CI) plain lines at each stage and
// every tenth of a long one.
import cliProgress from "cli-progress";
import type { ProgressReporter, RunStage } from "../lib/pipeline.js";

let active: cliProgress.SingleBar | null = null;

/** Ends a live bar so that what follows starts on a line of its own, the cursor and line wrapping back on. */
export function stopProgress(): void {
  active?.stop();
  active = null;
}

/**
 * "stage 2 of 6, run ETA 1m40s: locating candidate neurons — direct effects": where a step is within a
 * run, and when the run should end, reckoned in passes from the time since it started.
 */
function labelOf(label: string, run: RunStage | undefined, runSeconds: number): { prefix: string; text: string } {
  if (!run) return { prefix: "", text: label };
  const left = run.plannedPasses - run.passes;
  const eta = run.passes > 0 && left > 0 && runSeconds > 0 ? `, run ETA ${seconds(Math.round((runSeconds * left) / run.passes))}` : "";
  return { prefix: `stage ${run.stage} of ${run.stages}${eta}: `, text: label === run.name ? label : `${run.name} — ${label}` };
}

/** Seconds since the run being reported on started: its first stage. */
function runClock(): (run: RunStage | undefined) => number {
  let started = 0;
  return (run) => {
    if (run?.stage === 1 && started === 0) started = Date.now();
    return started ? (Date.now() - started) / 1000 : 0;
  };
}

export function progress(args: { quiet: boolean }, stream: NodeJS.WriteStream = process.stderr): ProgressReporter {
  if (args.quiet) return () => undefined;
  if (stream.isTTY) return barReporter(stream);
  let lastStage = "";
  let lastTenth = -1;
  const started = Date.now();
  const clock = runClock();
  return (label, done, total, run) => {
    const { text } = labelOf(label, run, 0);
    const stage = run ? `stage ${run.stage} of ${run.stages}: ${text}` : text;
    const tenth = total > 1 ? Math.floor((10 * done) / total) : 0;
    if (stage === lastStage && tenth === lastTenth) return;
    const fresh = stage !== lastStage;
    lastStage = stage;
    lastTenth = tenth;
    if (total <= 1 && !fresh) return;
    const { prefix } = labelOf(label, run, clock(run));
    const line = prefix + text;
    const elapsed = `${Math.round((Date.now() - started) / 1000)} s`;
    stream.write(total > 1 ? `${line}: ${done}/${total} (${elapsed})\n` : `${line} (${elapsed})\n`);
  };
}

const seconds = (s: number): string => (s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`);

/** Cuts `text` to `width` characters, marking the cut. */
const fit = (text: string, width: number): string => (text.length <= width ? text : width <= 1 ? "…".slice(0, Math.max(0, width)) : `${text.slice(0, width - 1)}…`);

/** One line no wider than the terminal: what is kept when it is narrow is the count, then the ETA. */
function barLine(label: string, run: RunStage | undefined, runSeconds: number, done: number, total: number, elapsedS: number, etaS: number, width: number): string {
  const { prefix, text } = labelOf(label, run, runSeconds);
  const time = seconds(elapsedS);
  if (total <= 1) return fit(`${prefix}${fit(text, Math.max(0, width - 1 - prefix.length - time.length - 3))} · ${time}`, width - 1);
  // the bar gives way to the label on a narrow terminal
  const bar = Math.max(6, Math.min(20, Math.floor(width / 8)));
  const filled = Math.round((bar * Math.min(done, total)) / total);
  const eta = done > 0 && done < total && Number.isFinite(etaS) ? ` · ETA ${seconds(Math.round(etaS))}` : "";
  const tail = ` ${"█".repeat(filled)}${"░".repeat(bar - filled)} ${done}/${total} · ${time}${eta}`;
  const room = width - 1 - prefix.length - tail.length;
  // too narrow for the bar: the stage, the count and the time still fit
  if (room < 8) return fit(`${prefix}${done}/${total} · ${time}${eta} ${text}`, width - 1);
  return `${prefix}${fit(text, room)}${tail}`;
}

let signalsHandled = false;

/**
 * A bar hides the cursor and turns line wrapping off; Ctrl-C or a kill must not leave the terminal so.
 * The bar is stopped, then the signal raised again with its default action, so the exit status is
 * still the signal's.
 */
function restoreTerminalOnSignals(): void {
  if (signalsHandled) return;
  signalsHandled = true;
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(signal, () => {
      stopProgress();
      process.kill(process.pid, signal);
    });
  }
  process.once("exit", stopProgress);
}

function barReporter(stream: NodeJS.WriteStream): ProgressReporter {
  let stage = "";
  const clock = runClock();
  return (next, done, total, run) => {
    const key = `${run?.stage ?? ""} ${next}`;
    const payload = { label: next, run, runSeconds: clock(run) };
    if (!active) {
      restoreTerminalOnSignals();
      active = new cliProgress.SingleBar({
        stream,
        format: (_options, params, p: typeof payload) =>
          barLine(p.label, p.run, p.runSeconds, params.value, params.total, Math.round(((params.stopTime ?? Date.now()) - params.startTime) / 1000), params.eta, params.maxWidth),
        hideCursor: true,
        clearOnComplete: true,
        etaBuffer: 20,
      });
      active.start(Math.max(1, total), done, payload);
      stage = key;
      return;
    }
    if (key !== stage) {
      // a new stage starts its own count and its own ETA
      active.stop();
      active.start(Math.max(1, total), done, payload);
      stage = key;
      return;
    }
    active.setTotal(Math.max(1, total));
    active.update(done, payload);
  };
}
