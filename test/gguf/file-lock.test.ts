// The model file's own lock: one in-place editor at a time, never while a reader of ours has the
// weights mapped, keyed on the file (not the path typed), and gone when its holder dies.
import { spawn } from "node:child_process";
import { closeSync, copyFileSync, existsSync, openSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { editInPlace, listEdits, undo, undoAll } from "../../lib/edit/editor.js";
import { journalPath } from "../../lib/edit/journal-path.js";
import { DebiasModel } from "../../lib/llama/model.js";
import { native } from "../../lib/native.js";
import { fixturePath } from "../helpers/fixtures.js";
import { editorChild, sha256, writeModel } from "../edit/helpers.js";

const SPEC = { upType: "Q4_K", downType: "F32", nFf: 64 } as const;
const EDIT = [{ layer: 0, index: 3, scale: 0 }];

t.test("a symlink and the real path share one lock and one journal", async (t) => {
  const dir = t.testdir();
  const real = writeModel(dir, "real.gguf", SPEC);
  const link = join(dir, "link.gguf");
  symlinkSync(real, link);
  const original = sha256(real);

  const held = openSync(link, "r");
  t.ok(native().lockFile(held, true), "a lock taken through the link");
  await t.rejects(editInPlace(real, EDIT), { code: "E_LOCKED" }, "holds the real path too");
  closeSync(held);

  await editInPlace(link, EDIT);
  t.ok(existsSync(journalPath(real)), "the journal sits beside the real file");
  t.notOk(existsSync(journalPath(link)), "not beside the link");
  t.equal((await listEdits(real)).entries.length, 1, "the real path sees the edit made through the link");
  await undo(real);
  t.equal(sha256(real), original, "undo through the real path restores it");
});

t.test("editors racing through a link and the real path never lose the original", async (t) => {
  const dir = t.testdir();
  const child = editorChild(join(dir, "child"));
  const run = (path: string, edits: object): Promise<number | null> =>
    new Promise((resolve, reject) => {
      const p = spawn(process.execPath, [child, "edit", path, JSON.stringify(edits)], { stdio: "ignore" });
      p.on("error", reject);
      p.on("exit", (code) => resolve(code));
    });
  const real = writeModel(dir, "real.gguf", SPEC);
  const link = join(dir, "link.gguf");
  symlinkSync(real, link);
  const original = sha256(real);
  for (let round = 0; round < 4; round++) {
    const codes = await Promise.all([run(real, [{ layer: 0, index: 3, scale: 0 }]), run(link, [{ layer: 1, index: 7, scale: 0 }])]);
    t.ok(codes.includes(0), `round ${round}: at least one editor succeeded (exit codes ${codes.join(", ")})`);
    const entries = (await listEdits(real)).entries.length;
    t.equal(entries, codes.filter((c) => c === 0).length, `round ${round}: one journal entry per successful editor`);
    await undoAll(link);
    t.equal(sha256(real), original, `round ${round}: undoing everything gives the original`);
  }
});

t.test("a loaded model holds its file: no in-place edit under it, and no load during one", async (t) => {
  const path = join(t.testdir(), "model.gguf");
  copyFileSync(fixturePath("llama-localized"), path);
  const before = sha256(path);
  const model = await DebiasModel.load(path);
  await t.rejects(editInPlace(path, EDIT), { code: "E_LOCKED", message: /in use by another process/ }, "the editor waits for readers");
  t.equal(sha256(path), before, "the weights did not change under the reader");
  const second = await DebiasModel.load(path);
  second.dispose();
  t.pass("readers share the file");
  model.dispose();
  await editInPlace(path, EDIT);
  t.pass("after dispose the edit goes ahead");

  const editor = openSync(path, "r+");
  t.ok(native().lockFile(editor, true));
  await t.rejects(DebiasModel.load(path), { code: "E_LOCKED", message: /being edited in place/ }, "no load while an edit holds the file");
  closeSync(editor);
  await undo(path);
  t.equal(sha256(path), before);
});
