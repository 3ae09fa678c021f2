// What to try after a run, for every verdict: the reason in a few words and, where there is one, the
// command to type, built from the run's own command line so it can be copied as it is.
import { factualRight } from "../measure/metrics.js";
import type { RunResult } from "./run-result.js";
import { walkBeyondBudget } from "./verdict.js";

export interface NextStep {
  why: string;
  command?: string;
}

const quote = (a: string): string => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`);

/** `command` with `--name value` set: replaced where the command gives the option, appended otherwise. */
export function withOption(command: string, name: string, value: string): string {
  const given = new RegExp(`(^| )--${name}(?:=| )('[^']*'|\\S+)`);
  return given.test(command) ? command.replace(given, `$1--${name} ${value}`) : `${command} --${name} ${value}`;
}

/** A KL budget a little above `kl`, in two significant digits, so the set that cost `kl` fits it. */
const budgetAbove = (kl: number): string => {
  const digits = 10 ** (Math.floor(Math.log10(kl)) - 1);
  return String(Number((Math.ceil((kl * 1.05) / digits) * digits).toPrecision(2)));
};

export function nextSteps(r: RunResult): NextStep[] {
  const model = quote(r.provenance.model.path);
  const command = r.provenance.command ?? `gguf-debias run ${model}`;
  const steps: NextStep[] = [];
  const storyData = r.provenance.dataset !== "tinystories" && r.provenance.dataset !== "demo";
  switch (r.verdict.kind) {
    case "unmeasurable": {
      const wrong = [...new Set(r.before.words.filter((w) => w.label === "factual" && !factualRight(w)).map((w) => w.word))];
      if (wrong.length) steps.push({ why: `these factual words lean away from their own gender against the baseline: ${wrong.join(", ")}; see each template's accuracy and baseline with` , command: `gguf-debias score ${model}${r.provenance.dataset && r.provenance.dataset !== "demo" ? ` --dataset ${quote(r.provenance.dataset)}` : ""}` });
      if (storyData) steps.push({ why: "probes in the model's own kind of text; for a story model, the bundled story probes", command: withOption(command, "dataset", "tinystories") });
      steps.push({ why: "your own probes, in words the model spells in one or two tokens (format: data/README.md in the package), or a larger model that knows gender" });
      break;
    }
    case "absent":
      if (r.objective === "stereotype" && Math.abs(r.before.priorSkew ?? 0) >= 0.1) steps.push({ why: `the prior skew (${(r.before.priorSkew ?? 0).toFixed(3)} nats: leaning one way for anyone) is another matter; to remove it instead`, command: withOption(command, "objective", "prior") });
      steps.push({ why: "nothing to remove on these probes; other words or templates may show what these do not (your own dataset: data/README.md)" });
      break;
    case "not-localized": {
      const beyond = r.selection ? walkBeyondBudget(r.selection) : null;
      if (beyond) steps.push({ why: `a larger damage budget: the search walked to a set removing ${(100 * beyond.removes).toFixed(1)}% on the selection probes at KL ${beyond.kl.toPrecision(2)}`, command: withOption(command, "max-kl", budgetAbove(beyond.kl)) });
      if (r.selection?.search === "fast") steps.push({ why: "the thorough search measures every candidate alone and pairs the fast one cannot see (hundreds of passes)", command: withOption(command, "search", "thorough") });
      steps.push({ why: "more stereotyped words and templates in the dataset's selection split: on small real models the stereotype is carried differently from one sentence frame and one word to another, so a set fitted on a few does not carry to others" });
      if (r.objective === "stereotype" && Math.abs(r.before.priorSkew ?? 0) >= 0.1) steps.push({ why: `or remove the prior skew (${(r.before.priorSkew ?? 0).toFixed(3)} nats) instead`, command: withOption(command, "objective", "prior") });
      break;
    }
    case "reduced":
    case "removed": {
      const edited = quote(r.file);
      const original = r.inPlace ? null : model;
      if (original) steps.push({ why: "read what the edit changed in the model's own words", command: `gguf-debias compare ${original} ${edited}` });
      if (original) steps.push({ why: "check capability on text of your own domain", command: `gguf-debias eval ${edited} --base ${original} --neutral YOUR_TEXT.txt` });
      if (r.inPlace) steps.push({ why: "the model was edited in place; to restore it byte for byte", command: `gguf-debias undo ${edited}` });
      // In place, a second run would edit the edited model: undo first.
      if (r.verdict.kind === "reduced" && !r.inPlace) steps.push({ why: "to remove more, allow more damage (then judge the cost with compare and eval)", command: `${withOption(command, "max-kl", budgetAbove(2 * (r.selection?.budget.maxKl ?? 0.02)))}${/ --overwrite\b/.test(command) ? "" : " --overwrite"}` });
      break;
    }
  }
  if (!r.benchmarks) {
    const benchmarks = "--benchmark winobias=DIR --benchmark crows-pairs=crows_pairs_anonymized.csv";
    const on = !r.written ? `${command} ${benchmarks}` : r.inPlace ? `gguf-debias score ${quote(r.file)} ${benchmarks}` : `gguf-debias eval ${quote(r.file)} --base ${model} ${benchmarks}`;
    steps.push({ why: "score the standard benchmarks too, from your copies", command: on });
  }
  return steps;
}
