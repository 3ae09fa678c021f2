import { existsSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { checkSameVocabulary, vocabularyOf } from "../../lib/llama/vocabulary.js";
import { packageRoot } from "../../lib/package-root.js";
import { fixturePath } from "../helpers/fixtures.js";

t.test("a vocabulary is identified by its tokens, not by the file", async (t) => {
  const llama = await vocabularyOf(fixturePath("llama-localized"));
  t.equal(llama.size, 824);
  t.match(llama.sha256, /^[0-9a-f]{64}$/);
  t.same(await vocabularyOf(fixturePath("gpt2-localized", "q4_k")), llama, "every fixture shares one tokenizer, whatever its weights and type");
  await checkSameVocabulary(fixturePath("llama-localized"), fixturePath("llama-prior"));
  const tiny = join(packageRoot(), "..", "shared", "models", "TinyStories-656K.f16.gguf");
  if (!existsSync(tiny)) return t.comment("../shared/models is absent: no second vocabulary to compare");
  t.equal((await vocabularyOf(tiny)).size, 2048);
  await t.rejects(checkSameVocabulary(tiny, fixturePath("llama-localized")), { code: "E_VOCAB_MISMATCH", message: /2048 and 824 tokens/ });
});
