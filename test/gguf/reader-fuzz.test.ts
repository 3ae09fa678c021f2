import t from "tap";
import { fuzzGguf } from "../../bench/fuzz-gguf.js";

t.test("thousands of mutated headers: each parses consistently or throws a DebiasError", async (t) => {
  const r = await fuzzGguf(3000, 20240601);
  t.same(r.failures, {}, "no other exception, no inconsistent parse, no changed file");
  const total = Object.values(r.outcomes).reduce((a, b) => a + b, 0);
  t.equal(total, 3000);
  t.ok((r.outcomes.parsed ?? 0) > 0 && Object.keys(r.outcomes).filter((k) => k.startsWith("rejected:")).length >= 8,
    `both outcomes occur, with many distinct codes: ${JSON.stringify(r.outcomes)}`);
  t.ok(r.maxParseMs < 1000, `no parse hangs (slowest ${r.maxParseMs.toFixed(1)} ms)`);
  t.ok(r.maxRssGrowthBytes < 256 * 2 ** 20, `no huge allocation (rss grew ${(r.maxRssGrowthBytes / 2 ** 20).toFixed(1)} MiB)`);
});
