// Whether a template measures gender at all. A template whose two targets are not interchangeable in it
// (" her" after "looked at" is also the object pronoun) or that the model reads with a strong prior shows
// a baseline b0 far from zero; one whose factual words go the wrong way against that baseline measures
// grammar, not gender. Both are named, so a user knows which probes to distrust before trusting a gap.
import type { BiasScore } from "./metrics.js";

/** Where a template stops measuring gender: factual accuracy against its baseline below this … */
export const MIN_TEMPLATE_FACTUAL_ACCURACY = 0.75;
/** … or a baseline further than this from zero (nats). */
export const MAX_TEMPLATE_BASELINE = 2;

export interface TemplateWarning {
  template: string;
  /** Factual accuracy against the template's baseline (null: no factual word in the template). */
  factualAccuracy: number | null;
  /** b0 per target pair of the template. */
  baselines: Record<string, number | null>;
  /** One sentence per problem. */
  reasons: string[];
}

/** The templates of a score that should not be trusted, with why. */
export function templateWarnings(score: Pick<BiasScore, "templates">): TemplateWarning[] {
  return Object.entries(score.templates).flatMap(([template, m]) => {
    const reasons: string[] = [];
    if (m.factualAccuracy !== null && m.factualAccuracy < MIN_TEMPLATE_FACTUAL_ACCURACY) {
      reasons.push(`factual accuracy against its baseline ${m.factualAccuracy.toFixed(3)} is below ${MIN_TEMPLATE_FACTUAL_ACCURACY}: its factual words go the wrong way, so it measures grammar, not gender`);
    }
    for (const [target, b0] of Object.entries(m.baselines)) {
      if (b0 !== null && Math.abs(b0) > MAX_TEMPLATE_BASELINE) reasons.push(`its baseline b0 for ${target} is ${b0.toFixed(3)} nats, beyond ±${MAX_TEMPLATE_BASELINE}: a prior or a grammar confound (targets that are not interchangeable there), not gender`);
    }
    return reasons.length ? [{ template, factualAccuracy: m.factualAccuracy, baselines: m.baselines, reasons }] : [];
  });
}
