// The model card a person publishes beside the edited GGUF: Markdown with the verdict, the numbers,
// the budget, the edited neurons, the benchmarks, the command, versions and hashes (run-result.json is
// a real run of the bundled model).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { packageRoot } from "../../lib/package-root.js";
import { renderModelCard } from "../../lib/verify/model-card.js";
import type { RunResult } from "../../lib/verify/run-result.js";
import { gguf } from "../helpers/cli.js";

const fixture = join(packageRoot(), "test", "fixtures", "run-result.json");
const result = JSON.parse(readFileSync(fixture, "utf8")) as RunResult;

t.test("a written run: everything needed to check or repeat the edit", async (t) => {
  const card = renderModelCard(result);
  t.match(card, /^# fixture-run\.gguf\n\nllama-localized\.f32\.gguf with 7 FFN neurons zeroed by gguf-debias 0\.1\.0/);
  t.match(card, /\*\*Verdict: removed\.\*\* Editing 7 FFN neurons narrowed the stereotype gap on held-out probes from 0\.939 to 0\.014 nats/);
  t.match(card, /\| stereotype gap, held-out probes \(nats\) \| 0\.939 \| 0\.014 \|/);
  t.match(card, /\| KL\(original ‖ edited\) on neutral text \(nats\) \|  \| 0\.00045 \|/);
  t.match(card, /\| CrowS-Pairs, stereotypical sentence likelier \(%; ideal 50\) \| 55\.3 \| 52\.7 \|\n\nWinoBias: the test split, 792 pro- and 792 anti-stereotyped lines; CrowS-Pairs: 262 gender pairs\./);
  t.match(card, /KL\(original ‖ edited\) on neutral text ≤ 0\.02 nats; factual margin ≥ 0\.8 of the original; at most 40 neurons/);
  t.equal(card.match(/^\| \d \| \d+ \| zeroed \|$/gm)?.length, 7, "a row per edited neuron");
  for (const v of [result.provenance.model.sha256, result.provenance.output!.sha256, result.provenance.llamaCommit]) t.ok(card.includes(v), `carries ${v}`);
  t.match(card, /\| command \| `gguf-debias run -o \/tmp\/fixture-run\.gguf [^`]*` \|/);
  // every table is well formed: each row has as many cells as its header (a pipe in a cell is escaped)
  const cells = (line: string) => line.split(/(?<!\\)\|/).length - 2;
  const blocks = card.split(/\n(?!\|)/).map((b) => b.split("\n").filter((l) => l.startsWith("|"))).filter((b) => b.length > 0);
  t.equal(blocks.length, 4, "bias, benchmarks, edited neurons, provenance");
  for (const block of blocks) t.same(block.map(cells), block.map(() => cells(block[0]!)), block[0]);
});

t.test("nothing written: the chosen set's prediction, marked, and no edited neurons claimed", async (t) => {
  const r: RunResult = { ...JSON.parse(JSON.stringify(result)), written: false, edited: [], after: result.before };
  r.provenance.output = null;
  r.verdict = { ...r.verdict, kind: "not-localized", sentence: "Nothing was written." };
  const card = renderModelCard(r);
  t.match(card, /^# llama-localized\.f32\.gguf\n\ngguf-debias measured llama-localized\.f32\.gguf and wrote no edited model\./);
  t.match(card, /\| {2}\| before \| chosen set \(not written\) \|/);
  t.match(card, /None: the file was not changed\. The set the search chose, not written: 1:27/);
  t.notMatch(card, /perplexity|top-1/, "no capability figures that were not measured");
  t.match(card, /\| output \| nothing written \|/);
});

t.test("report --card writes it next to nothing the user has", async (t) => {
  const dir = t.testdir();
  const card = join(dir, "card.md");
  const r = await gguf("report", fixture, "--card", card);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, new RegExp(`model card: ${card.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\n$`));
  t.equal(readFileSync(card, "utf8"), renderModelCard(result), "the file is the rendered card");
  const again = await gguf("report", fixture, "--card", card);
  t.equal(again.code, 1);
  t.match(again.stderr, /The model card .*card\.md already exists; choose another name or allow overwriting \(--overwrite\)\. \[E_DST_EXISTS\]/);
  const clash = await gguf("report", fixture, "--card", fixture, "--overwrite");
  t.equal(clash.code, 1);
  t.match(clash.stderr, /is the run result/, "never over the result it reads");
});
