// Which search a run takes and what it may spend, decided from work, never from the clock: the thorough
// search where its estimated work fits, the fast one elsewhere, within a pass budget for the whole run.
import type { Session } from "../measure/session.js";
import { defaultCandidates, type LocateOptions } from "../locate/locate.js";
import { DEFAULTS } from "../defaults.js";
import { randomSetProbe } from "./random-sets.js";
import type { SearchKind } from "./selection.js";

/** What the plan reads of a run's options. */
export type SearchPlanOptions = Pick<LocateOptions, "candidates" | "neutralCandidates" | "randomNeurons"> & {
  search?: SearchKind | "auto";
  /** Largest estimated thorough search that "auto" still chooses, in parameter-tokens. */
  thoroughWork?: number;
};

/** Tokens of one pass: the selection probes and the neutral text, evaluated once. */
export function passTokens(session: Pick<Session, "probes" | "neutral">): number {
  return session.probes.filter((p) => p.split === "selection").tokenCount + session.neutral.tokenCount;
}

/**
 * The passes a fast search may spend so that the whole run stays within `maxPasses`: what is left after
 * the passes spent so far and those the run still needs — the chosen set on the probes the search does
 * not measure, four random sets on the judged split's objective probes, and verifying the written file
 * (every probe and the neutral text). At least 3.
 */
export function searchBudget(session: Pick<Session, "probes" | "neutral">, spent: number, split: "selection" | "heldout", maxPasses: number): number {
  const { probes, neutral } = session;
  const pass = passTokens(session);
  const still = probes.filter((p) => p.split !== "selection").tokenCount + 4 * probes.filter(randomSetProbe(split)).tokenCount + probes.tokenCount + neutral.tokenCount;
  return Math.max(3, Math.floor(maxPasses - spent - still / pass));
}

/**
 * The search a run uses. "auto" takes the thorough one when its estimated work — about four passes per
 * screened neuron (candidates, neutral ones, random ones, then the re-screens), each pass the model's
 * parameters times the tokens of a pass — fits `thoroughWork`: test models and tiny real ones, never a
 * 1B model. Work, not seconds: the choice must not depend on the machine or its load (same input, same
 * output).
 */
export function chooseSearch(options: SearchPlanOptions, totalNeurons: number, nParams: number, tokensPerPass: number): SearchKind {
  if (options.search && options.search !== "auto") return options.search;
  return thoroughPasses(options, totalNeurons) * tokensPerPass * nParams <= (options.thoroughWork ?? DEFAULTS.thoroughWork) ? "thorough" : "fast";
}

/** The passes a thorough search is expected to take: about four per screened neuron. */
export function thoroughPasses(options: Pick<SearchPlanOptions, "candidates" | "neutralCandidates" | "randomNeurons">, totalNeurons: number): number {
  return 4 * ((options.candidates ?? defaultCandidates(totalNeurons)) + (options.neutralCandidates ?? 8) + (options.randomNeurons ?? 24));
}
