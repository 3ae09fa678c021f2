// What selection drives to zero. The stereotype by default: how much further the model leans for
// stereotyped words than for anyone (its prior removed). The prior skew only when the user asks: the
// two are different harms with different fixes, and mean |b| mixes them.
import type { GroupMetrics } from "./metrics.js";

export type ObjectiveKind = "stereotype" | "prior";

export const OBJECTIVES: readonly ObjectiveKind[] = ["stereotype", "prior"];

/**
 * The signed quantity reported and judged (nats): the stereotype gap Δ (> 0 = follows the stereotype) or
 * the prior skew; null where the group has no words to measure it. Words without a direction fall back
 * to the mean residual |b − b0|, which needs no direction and is also free of the prior.
 */
export function objectiveValue(metrics: GroupMetrics, kind: ObjectiveKind): number | null {
  if (kind === "prior") return metrics.priorSkew;
  return metrics.stereotypeGap ?? metrics.residual;
}

/** The size of what is left to remove: |objective|, 0 when unmeasurable. */
export function objectiveSize(metrics: GroupMetrics, kind: ObjectiveKind): number {
  return Math.abs(objectiveValue(metrics, kind) ?? 0);
}

/**
 * What the search minimises. For the stereotype, |Δ|/2 plus the mean residual |b − b0| of the stereotyped
 * words: the gap alone is an average a few neurons can zero by pushing some words past their baseline
 * while others keep their stereotype (on the planted llama fixture a gap-only search zeroed the selection
 * gap with 8 neurons, 3 of them not planted, and removed 64% on held-out words; with the residual term
 * it chose 9, 7 planted, and removed 97%). The two terms have the same scale: mean |r| ≥ |Δ|/2.
 */
export function searchSize(metrics: GroupMetrics, kind: ObjectiveKind): number {
  if (kind === "prior") return objectiveSize(metrics, kind);
  return Math.abs(metrics.stereotypeGap ?? 0) / 2 + (metrics.residual ?? 0);
}

export function objectiveName(kind: ObjectiveKind): string {
  return kind === "prior" ? "prior skew" : "stereotype gap";
}
