// Counts in sentences: "1 neuron", "2 neurons" — never "1 neurons" or "neuron(s)".

/** `n` and the noun in the number it takes; `plural` for nouns that do not just add an "s". */
export function count(n: number, singular: string, plural = `${singular}s`): string {
  return `${n.toLocaleString("en")} ${n === 1 ? singular : plural}`;
}
