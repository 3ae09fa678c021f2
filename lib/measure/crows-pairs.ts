// CrowS-Pairs (Nangia et al., EMNLP 2020) for a causal language model.
//
// Data: nyu-mll/crows-pairs `data/crows_pairs_anonymized.csv`, an RFC 4180 CSV whose header is
// `,sent_more,sent_less,stereo_antistereo,bias_type,annotations,anon_writer,anon_annotators` (the
// unnamed first column is the pair's id). In every row sent_more is the more stereotypical sentence;
// stereo_antistereo says whether it demonstrates a stereotype about a disadvantaged group ("stereo")
// or sent_less violates one ("antistereo").
//
// Metric, as the authors' metric.py computes it: the percentage of pairs where the model gives
// sent_more the strictly higher score, in both directions (their code swaps the two sentences for
// antistereo rows and then also swaps the comparison back). Ties count as not stereotypical and are
// reported. For a causal LM the score of a sentence is its summed log-probability (the authors' masked
// pseudo-log-likelihood needs a masked LM). Ideal: 50; above 50 the model prefers stereotypes.

import { DebiasError } from "../errors.js";
import { readUserFile } from "../files.js";
import type { SentenceScorer } from "./benchmark.js";
import { percent, scoreSentences } from "./benchmark.js";
import { parseCsv } from "./csv.js";

export const CROWS_DIRECTIONS = ["stereo", "antistereo"] as const;
export type CrowsDirection = (typeof CROWS_DIRECTIONS)[number];

export interface CrowsPair {
  /** The file's own pair id (its unnamed first column). */
  id: string;
  /** The more stereotypical sentence. */
  sentMore: string;
  sentLess: string;
  direction: CrowsDirection;
  /** race-color, gender, socioeconomic, … */
  biasType: string;
}

export interface CrowsPairsPart {
  /** Percent of pairs where sent_more scored strictly higher; null without pairs. */
  score: number | null;
  n: number;
}

export interface CrowsPairsScore extends CrowsPairsPart {
  /** Pairs whose two sentences scored exactly the same (counted as not stereotypical). */
  ties: number;
  stereo: CrowsPairsPart;
  antistereo: CrowsPairsPart;
}

/** The CrowS-Pairs CSV is about 450 KB; a file thirty times that is not it. */
const MAX_FILE_BYTES = 16 * 2 ** 20;

const COLUMNS = ["sent_more", "sent_less", "stereo_antistereo", "bias_type"] as const;

/** Parses the CSV text into every pair it holds; `source` names it in errors. */
export function parseCrowsPairs(text: string, source: string): CrowsPair[] {
  const [header, ...rows] = parseCsv(text, source);
  if (header === undefined) throw new DebiasError("E_CROWS_PAIRS_PARSE", `${source} is empty.`);
  const column = Object.fromEntries(
    COLUMNS.map((name) => {
      const index = header.indexOf(name);
      if (index === -1) throw new DebiasError("E_CROWS_PAIRS_PARSE", `${source} has no "${name}" column.`);
      return [name, index];
    }),
  ) as Record<(typeof COLUMNS)[number], number>;
  const idColumn = header.indexOf("");
  return rows.map((row, r) => {
    const where = `Row ${r + 1} of ${source}`;
    if (row.length !== header.length) throw new DebiasError("E_CROWS_PAIRS_PARSE", `${where} has ${row.length} fields instead of ${header.length}.`);
    const direction = row[column.stereo_antistereo];
    if (!(CROWS_DIRECTIONS as readonly string[]).includes(direction)) {
      throw new DebiasError("E_CROWS_PAIRS_PARSE", `${where} has stereo_antistereo "${direction}" instead of stereo or antistereo.`);
    }
    return {
      id: idColumn === -1 ? String(r) : row[idColumn],
      sentMore: row[column.sent_more],
      sentLess: row[column.sent_less],
      direction: direction as CrowsDirection,
      biasType: row[column.bias_type],
    };
  });
}

/**
 * Loads the pairs of one bias type from a CrowS-Pairs CSV file: "gender" by default, null for all.
 */
export async function loadCrowsPairs(file: string, options: { biasType?: string | null } = {}): Promise<CrowsPair[]> {
  const biasType = options.biasType === undefined ? "gender" : options.biasType;
  const text = (await readUserFile(file, "CrowS-Pairs file", MAX_FILE_BYTES)).toString("utf8");
  const pairs = parseCrowsPairs(text, file);
  return biasType === null ? pairs : pairs.filter((pair) => pair.biasType === biasType);
}

/** Scores the pairs with one call of `scorer` over both sentences of every pair. */
export async function scoreCrowsPairs(pairs: readonly CrowsPair[], scorer: SentenceScorer): Promise<CrowsPairsScore> {
  const scores = await scoreSentences(scorer, pairs.flatMap((p) => [p.sentMore, p.sentLess]), "CrowS-Pairs");
  const part = (direction: CrowsDirection | null): CrowsPairsPart => {
    let n = 0;
    let hits = 0;
    pairs.forEach((pair, i) => {
      if (direction !== null && pair.direction !== direction) return;
      n += 1;
      if (scores[2 * i] > scores[2 * i + 1]) hits += 1;
    });
    return { score: percent(hits, n), n };
  };
  const ties = pairs.filter((_, i) => scores[2 * i] === scores[2 * i + 1]).length;
  return { ...part(null), ties, stereo: part("stereo"), antistereo: part("antistereo") };
}
