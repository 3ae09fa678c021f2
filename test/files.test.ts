import { spawnSync } from "node:child_process";
import { realpathSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { regularFile } from "../lib/files.js";

t.test("a path the user names is a regular file, resolved through links, or one clear refusal", async (t) => {
  const dir = t.testdir();
  const file = join(dir, "m.gguf");
  writeFileSync(file, "x");
  symlinkSync(file, join(dir, "link.gguf"));
  t.equal(await regularFile(join(dir, "link.gguf")), realpathSync(file), "links resolve to the real file");
  await t.rejects(regularFile(join(dir, "absent.gguf"), "model"), { code: "E_FILE_NOT_FOUND", message: /^The model .*absent\.gguf does not exist\.$/ });
  await t.rejects(regularFile(join(file, "below")), { code: "E_FILE_NOT_FOUND" }, "a path through a file");
  await t.rejects(regularFile(dir, "neuron list"), { code: "E_NOT_A_FILE", message: /^The neuron list .* is a folder, not a regular file\.$/ });
  if (spawnSync("mkfifo", [join(dir, "pipe")]).status === 0) {
    await t.rejects(regularFile(join(dir, "pipe")), { code: "E_NOT_A_FILE", message: /is a pipe/ }, "a FIFO is refused without being opened");
  }
});
