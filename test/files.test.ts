import { spawnSync } from "node:child_process";
import { linkSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { checkDestinations, readUserFile, regularFile } from "../lib/files.js";

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

t.test("no path a command writes is a file it reads, its journal or another of its outputs", async (t) => {
  const dir = t.testdir();
  const model = join(dir, "m.gguf");
  const dataset = join(dir, "d.json");
  writeFileSync(model, "model");
  writeFileSync(dataset, "{}");
  symlinkSync(model, join(dir, "alias.gguf"));
  linkSync(model, join(dir, "hard.gguf"));
  const sources = [{ path: model, what: "model" }, { path: dataset, what: "dataset" }];
  const out = (path: string, what = "output", overwrite = true) => ({ path, what, overwrite });
  await t.resolves(checkDestinations(sources, [out(join(dir, "new.gguf")), out(join(dir, "r.html"), "report")]));
  await t.rejects(checkDestinations(sources, [out(join(dir, "new.gguf")), out(model, "report")]), { code: "E_EDIT_SAME_FILE", message: /^The report .*m\.gguf is the model .*m\.gguf; write it elsewhere\.$/ }, "--report MODEL --overwrite");
  await t.rejects(checkDestinations(sources, [out(join(dir, "alias.gguf"), "report")]), { code: "E_EDIT_SAME_FILE", message: /\(the same file\)/ }, "through a symlink");
  await t.rejects(checkDestinations(sources, [out(join(dir, "hard.gguf"))]), { code: "E_EDIT_SAME_FILE" }, "through a hard link");
  await t.rejects(checkDestinations(sources, [out(dataset)]), { code: "E_EDIT_SAME_FILE", message: /the dataset/ });
  await t.rejects(checkDestinations(sources, [out(`${model}.debias-journal`)]), { code: "E_EDIT_SAME_FILE", message: /edit journal of the model/ }, "the journal, before it exists");
  const st = statSync(model, { bigint: true });
  const linkJournal = join(dir, "hard.gguf.debias-journal");
  writeFileSync(linkJournal, JSON.stringify({ identity: { dev: String(st.dev), ino: String(st.ino) }, entries: [{ fileSize: 5 }] }));
  await t.rejects(checkDestinations(sources, [out(linkJournal)]), { code: "E_EDIT_SAME_FILE", message: /edit journal of the model/ }, "the journal a hard link left, which the model's undo uses");
  rmSync(linkJournal);
  await t.rejects(checkDestinations(sources, [out(join(dir, "o.gguf")), out(join(dir, ".", "o.gguf"), "report")]), { code: "E_EDIT_SAME_FILE", message: /^The report .* and the output .* are the same file/ }, "two outputs, one file");
  writeFileSync(join(dir, "old.html"), "old");
  await t.rejects(checkDestinations(sources, [out(join(dir, "old.html"), "report", false)]), { code: "E_DST_EXISTS", message: /allow overwriting/ });
  await t.rejects(checkDestinations(sources, [out(join(dir, "missing", "o.gguf"))]), { code: "E_DST_DIR", message: /does not exist/ });
  await t.rejects(checkDestinations(sources, [out(dir)]), { code: "E_NOT_A_FILE" });
});

t.test("a user file is read whole up to its limit, never from a pipe", async (t) => {
  const dir = t.testdir();
  const file = join(dir, "text");
  writeFileSync(file, "x".repeat(3 * 2 ** 20));
  t.equal((await readUserFile(file, "text", 3 * 2 ** 20)).length, 3 * 2 ** 20, "a file at the limit, read in chunks");
  await t.rejects(readUserFile(file, "text", 3 * 2 ** 20 - 1), { code: "E_FILE_TOO_LARGE" }, "one byte more");
  await t.rejects(readUserFile(file, "text", 2 * 2 ** 20), { code: "E_FILE_TOO_LARGE", message: /^The text .*text is 3\.0 MiB, more than the 2\.0 MiB it may be\.$/ });
  const fifo = join(dir, "fifo");
  spawnSync("mkfifo", [fifo]);
  await t.rejects(readUserFile(fifo, "neutral text", 10), { code: "E_NOT_A_FILE", message: /^The neutral text .*fifo is a pipe, not a regular file\.$/ });
});
