// Progress on stderr, never stdout (which --json keeps for the result): on a terminal one live bar
// (cli-progress) with the stage, the count and an ETA; elsewhere (logs, CI) plain lines at each stage
// and every tenth of a long one; nothing at all with --json or --quiet.
import cliProgress from "cli-progress";
import type { CommonArgs } from "./cli.js";

export type Reporter = (stage: string, done: number, total: number) => void;

let active: cliProgress.SingleBar | null = null;

/** Ends a live bar so that what follows starts on a line of its own. */
export function stopProgress(): void {
  active?.stop();
  active = null;
}

export function progress(args: CommonArgs, stream: NodeJS.WriteStream = process.stderr): Reporter {
  if (args.json || args.quiet) return () => undefined;
  if (stream.isTTY) return barReporter(stream);
  let lastStage = "";
  let lastTenth = -1;
  const started = Date.now();
  return (stage, done, total) => {
    const tenth = total > 1 ? Math.floor((10 * done) / total) : 0;
    if (stage === lastStage && tenth === lastTenth) return;
    const fresh = stage !== lastStage;
    lastStage = stage;
    lastTenth = tenth;
    if (total <= 1 && !fresh) return;
    const elapsed = `${Math.round((Date.now() - started) / 1000)} s`;
    stream.write(total > 1 ? `${stage}: ${done}/${total} (${elapsed})\n` : `${stage} (${elapsed})\n`);
  };
}

function barReporter(stream: NodeJS.WriteStream): Reporter {
  let stage = "";
  return (next, done, total) => {
    if (!active) {
      active = new cliProgress.SingleBar({
        stream,
        format: "{stage} {bar} {value}/{total} · {duration_formatted} · ETA {eta_formatted}",
        hideCursor: true,
        clearOnComplete: true,
        etaBuffer: 20,
        barsize: 24,
      }, cliProgress.Presets.shades_classic);
      active.start(Math.max(1, total), done, { stage: next });
      stage = next;
      return;
    }
    if (next !== stage) {
      // a new stage starts its own count and its own ETA
      active.stop();
      active.start(Math.max(1, total), done, { stage: next });
      stage = next;
      return;
    }
    active.setTotal(Math.max(1, total));
    active.update(done, { stage: next });
  };
}
