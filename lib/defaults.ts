// Every default a run, locate or the verdict falls back on, written once: the library reads them here and
// the CLI shows them in its help from here, so the two can never disagree.

/**
 * The damage budget: what an edit may cost the model. Every field is optional where the library takes
 * it; unset, `maxKl` and `minFactualRatio` come from DEFAULTS and `maxNeurons` is 2% of the model's FFN
 * neurons.
 */
export interface DamageBudget {
  /** Largest mean KL(original ‖ edited) on neutral text, nats. */
  maxKl: number;
  /** Smallest share of the original factual margin to keep. */
  minFactualRatio: number;
  /** Most neurons to edit. */
  maxNeurons: number;
}
export const DEFAULTS = {
  /** Damage budget: mean KL(original ‖ edited) on neutral text, nats. */
  maxKl: 0.02,
  /** Damage budget: share of the factual margin an edit must keep. */
  minFactualRatio: 0.8,
  /** Below this factual accuracy the model does not know gender: report, edit nothing. */
  minFactualAccuracy: 0.75,
  /** Smallest held-out reduction of the objective worth writing. */
  minReduction: 0.2,
  /** How far (in spreads) the chosen set must beat random sets of its size. */
  minZ: 2,
  /** How many times more of the stereotype than of factual gender an edit must remove (share of each). */
  minSpecificity: 2,
  /** A gap (or prior) below this many nats counts as absent. */
  minGap: 0.1,
  /** The search stops once the objective on the selection probes is this share of its original size. */
  stopAt: 0.02,
  /** What a run with the fast search may cost in all, in passes. */
  maxPasses: 15,
  /**
   * Largest estimated thorough search "auto" still chooses, in parameter-tokens: about 10 minutes on 2
   * laptop cores, where the 3M-parameter fixture ran at 2.7e11 parameter-tokens a second (425 passes of
   * 20,205 tokens in 94 s).
   */
  thoroughWork: 1.5e14,
  /** Seed of the random neurons and random sets. */
  seed: 1,
} as const;
