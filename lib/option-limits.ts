// What each numeric option may be, written once: the library refuses anything else where the option is
// used (run, locate, a model's evaluator), and the CLI checks its flags against the same table before any
// work, naming them as flags. The native layer keeps only the bounds that protect its buffers.
import { DebiasError } from "./errors.js";

interface Limit {
  min: number;
  max: number;
  /** A whole number. */
  integer?: boolean;
  /** `max` itself is not allowed. */
  belowMax?: boolean;
}

export const OPTION_LIMITS = {
  maxKl: { min: 0, max: 100 },
  minFactualRatio: { min: 0, max: 1 },
  maxNeurons: { min: 1, max: 1e9, integer: true },
  candidates: { min: 1, max: 100_000, integer: true },
  minGain: { min: 0, max: 100 },
  stopAt: { min: 0, max: 1 },
  scale: { min: 0, max: 1, belowMax: true },
  minReduction: { min: 0, max: 1 },
  minZ: { min: -100, max: 100 },
  minGap: { min: 0, max: 100 },
  minSpecificity: { min: 0, max: 1000 },
  minFactualAccuracy: { min: 0, max: 1 },
  randomSets: { min: 2, max: 10_000, integer: true },
  searchPasses: { min: 1, max: 10_000, integer: true },
  maxPasses: { min: 1, max: 100_000 },
  threads: { min: 1, max: 1024, integer: true },
  gpuLayers: { min: -1, max: 100_000, integer: true },
  tokens: { min: 1, max: 1024, integer: true },
} as const satisfies Record<string, Limit>;

export type LimitedOption = keyof typeof OPTION_LIMITS;

/** What an option may be, as the end of a sentence: "a number from 0 to 1". */
export function allowed(name: LimitedOption): string {
  const limit: Limit = OPTION_LIMITS[name];
  return `${limit.integer ? "a whole number" : "a number"} from ${limit.min} ${limit.belowMax ? "up to (not including)" : "to"} ${limit.max}`;
}

/** The first of `options`' limited options whose value lies outside its limits (undefined counts as unset). */
export function firstOutOfLimits(options: object): { name: LimitedOption; value: unknown } | null {
  for (const [name, value] of Object.entries(options)) {
    if (!(name in OPTION_LIMITS) || value === undefined) continue;
    const limit: Limit = OPTION_LIMITS[name as LimitedOption];
    const ok = typeof value === "number" && Number.isFinite(value) && value >= limit.min && (limit.belowMax ? value < limit.max : value <= limit.max) && (!limit.integer || Number.isInteger(value));
    if (!ok) return { name: name as LimitedOption, value };
  }
  return null;
}

/** Refuses `options` (of `what`: "run", "locate" …) where one lies outside its limits, naming it as the library spells it. */
export function checkOptions(options: object, what: string): void {
  const bad = firstOutOfLimits(options);
  if (bad) throw new DebiasError("E_ARGUMENT", `The ${what} option ${bad.name} must be ${allowed(bad.name)}, not ${typeof bad.value === "number" ? bad.value : JSON.stringify(bad.value) ?? String(bad.value)}.`);
}
