// After every verdict, what to try next: a reason and a command built from the run's own command line,
// so the command can be copied as it is (run-result.json is a real run, altered per verdict).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { packageRoot } from "../../lib/package-root.js";
import { nextSteps, withOption } from "../../lib/verify/next-steps.js";
import { renderReport } from "../../lib/verify/report.js";
import type { RunResult } from "../../lib/verify/run-result.js";

const fixture = readFileSync(join(packageRoot(), "test", "fixtures", "run-result.json"), "utf8");
const result = (): RunResult => JSON.parse(fixture) as RunResult;
const COMMAND = "gguf-debias run m.gguf --max-kl 0.02 --search fast -o 'my out.gguf'";

t.test("an option is replaced where the command gives it, appended where it does not", async (t) => {
  t.equal(withOption(COMMAND, "max-kl", "0.055"), "gguf-debias run m.gguf --max-kl 0.055 --search fast -o 'my out.gguf'");
  t.equal(withOption("gguf-debias run --max-kl=0.02 m.gguf", "max-kl", "0.1"), "gguf-debias run --max-kl 0.1 m.gguf");
  t.equal(withOption(COMMAND, "objective", "prior"), `${COMMAND} --objective prior`);
  t.equal(withOption("gguf-debias run --dataset 'a b.json'", "dataset", "tinystories"), "gguf-debias run --dataset tinystories", "a quoted value is replaced whole");
});

t.test("removed, written to a new file: read the continuations, check capability on your own text", async (t) => {
  const steps = nextSteps(result());
  t.match(steps[0]!.command!, /^gguf-debias compare \S+llama-localized\.f32\.gguf \/tmp\/fixture-run\.gguf$/);
  t.match(steps[1]!.command!, /^gguf-debias eval \/tmp\/fixture-run\.gguf --base \S+llama-localized\.f32\.gguf --neutral YOUR_TEXT\.txt$/);
  t.equal(steps.length, 2, "the run scored the benchmarks already: nothing suggests them");
  const plain = result();
  plain.benchmarks = null;
  t.match(nextSteps(plain).at(-1)!.command!, /^gguf-debias eval \/tmp\/fixture-run\.gguf --base \S+ --benchmark winobias=DIR --benchmark crows-pairs=crows_pairs_anonymized\.csv$/, "a written file's benchmarks come from eval, not a second run over it");
  const inPlace = { ...result(), inPlace: true, file: "/m/model.gguf" };
  t.same(nextSteps(inPlace).map((s) => s.command), ["gguf-debias undo /m/model.gguf"], "in place: how to take it back");
});

t.test("not-localized: the budget the walk needed, the thorough search after a fast one, the prior", async (t) => {
  const r = result();
  r.verdict = { ...r.verdict, kind: "not-localized" };
  r.written = false;
  r.provenance.command = COMMAND;
  r.selection!.search = "fast";
  // the chosen set left more than the best set the walk went through (that one cost KL 4.5e-4)
  r.selection!.effect = { ...r.selection!.effect, loss: 1 };
  r.before.priorSkew = -0.5;
  const steps = nextSteps(r);
  t.match(steps[0]!.why, /^a larger damage budget: the search walked to a set removing 97\.\d% on the selection probes at KL 0\.00045$/);
  t.equal(steps[0]!.command, "gguf-debias run m.gguf --max-kl 0.00048 --search fast -o 'my out.gguf'", "a budget just above what that set cost");
  t.equal(steps[1]!.command, "gguf-debias run m.gguf --max-kl 0.02 --search thorough -o 'my out.gguf'");
  t.match(steps[2]!.why, /more stereotyped words and templates/);
  t.equal(steps[3]!.command, `${COMMAND} --objective prior`);
  t.match(renderReport(r), /what to try next:\n  - a larger damage budget[^\n]*:\n      gguf-debias run m\.gguf --max-kl 0\.00048/, "in the summary, under the verdict");
});

t.test("unmeasurable: the factual words that failed, and probes in the model's own kind of text", async (t) => {
  const r = result();
  r.verdict = { ...r.verdict, kind: "unmeasurable" };
  r.provenance.command = "gguf-debias run story.gguf";
  r.provenance.model.path = "story.gguf";
  r.provenance.dataset = "commonwords";
  for (const w of r.before.words) if (w.word === "king" || w.word === "aunt") w.residual = -w.residual;
  const steps = nextSteps(r);
  t.match(steps[0]!.why, /lean away from their own gender against the baseline: king, aunt;/);
  t.equal(steps[0]!.command, "gguf-debias score story.gguf --dataset commonwords");
  t.equal(steps[1]!.command, "gguf-debias run story.gguf --dataset tinystories");
  t.match(steps[2]!.why, /your own probes/);
});

t.test("absent: the prior is another matter, when there is one", async (t) => {
  const r = result();
  r.verdict = { ...r.verdict, kind: "absent" };
  r.provenance.command = "gguf-debias run m.gguf";
  r.before.priorSkew = 0.8;
  t.same(nextSteps(r).map((s) => s.command).filter(Boolean), ["gguf-debias run m.gguf --objective prior"]);
  r.before.priorSkew = 0.01;
  t.same(nextSteps(r).map((s) => s.command).filter(Boolean), [], "no prior to speak of: no command, only the reason");
});
