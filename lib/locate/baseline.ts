// The baseline attribution and selection compare against: the unedited model on the selection probes.
import type { NeutralRun } from "../measure/neutral-text.js";
import type { ScoreOptions } from "../measure/metrics.js";
import type { ObjectiveKind } from "../measure/objective.js";
import { scoreOriginal, type Session } from "../measure/session.js";
import type { Baseline } from "./causal.js";

/**
 * What attribution and selection compare against: the selection-split probes (stereotyped words, the
 * neutral words that set each template's baseline, factual words) on the unedited model, and the
 * neutral text. `original` (from scoreOriginal) saves measuring them again.
 */
export async function selectionBaseline(session: Session, objective: ObjectiveKind = "stereotype", original?: { b: Float64Array; scoreOptions: ScoreOptions }, neutralRun?: NeutralRun): Promise<Baseline> {
  const { b: all, scoreOptions } = original ?? (await scoreOriginal(session));
  const keep = session.probes.items.map((item) => item.probe.split === "selection");
  const probes = session.probes.filter((p) => p.split === "selection");
  const b = Float64Array.from(all.filter((_, i) => keep[i]));
  return { probes, b, score: probes.scoreOf(b, scoreOptions), neutral: session.neutral, neutralRun: neutralRun ?? (await session.neutral.run(session.evaluator)), objective, scoreOptions };
}
