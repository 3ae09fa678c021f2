// A kill at any point of an in-place edit, undo or recovery leaves the model, after the next open,
// either exactly as before or exactly as fully edited: never half.
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { editInPlace, listEdits, recover, undo } from "../../lib/edit/editor.js";
import { editToNewFile } from "../../lib/edit/new-file.js";
import { journalPath } from "../../lib/edit/journal-path.js";
import type { NeuronEdit } from "../../lib/edit/neuron-edit.js";
import { editorChild, sha256, writeModel } from "./helpers.js";

const CHILD = editorChild(t.testdir());

// several patches in two tensors, so "half" really is half
const EDITS: NeuronEdit[] = [
  { layer: 0, index: 3, scale: 0 },
  { layer: 0, index: 10, scale: 0 },
  { layer: 1, index: 5, scale: 0.5 },
];

function runChild(killAt: string, ...args: string[]): Promise<NodeJS.Signals | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, ...args], {
      env: { ...process.env, GGUF_DEBIAS_KILL_AT: killAt },
      stdio: ["ignore", "ignore", "inherit"],
    });
    child.on("error", reject);
    child.on("exit", (_code, signal) => resolve(signal));
  });
}

t.test("kills during an in-place edit", async (t) => {
  const dir = t.testdir();
  const pristine = writeModel(dir, "pristine.gguf", { upType: "Q4_K", downType: "F32", nFf: 64 });
  const original = sha256(pristine);
  const reference = join(dir, "reference.gguf");
  copyFileSync(pristine, reference);
  await editInPlace(reference, EDITS);
  const edited = sha256(reference);

  for (const point of ["journal-written", "patches-half", "patches-written"]) {
    const path = join(dir, `${point}.gguf`);
    copyFileSync(pristine, path);
    t.equal(await runChild(point, "edit", path, JSON.stringify(EDITS)), "SIGKILL", `${point}: the editor was killed`);
    t.ok(existsSync(journalPath(path)), `${point}: it left its journal (its lock died with it)`);
    if (point === "patches-half") {
      const now = sha256(path);
      t.ok(now !== original && now !== edited, "patches-half: the file really was half written");
    }
    t.same(await recover(path), { file: path, rolledBack: 1 }, `${point}: recovery rolls back one edit`);
    t.equal(sha256(path), original, `${point}: the original bytes are back`);
    t.notOk(existsSync(journalPath(path)), `${point}: no journal remains`);
  }

  const committed = join(dir, "committed.gguf");
  copyFileSync(pristine, committed);
  t.equal(await runChild("committed", "edit", committed, JSON.stringify(EDITS)), "SIGKILL");
  t.same(await recover(committed), { file: committed, rolledBack: 0 }, "a committed edit is kept");
  t.equal(sha256(committed), edited, "committed: fully edited");
  t.equal((await listEdits(committed)).entries.length, 1);
  await undo(committed);
  t.equal(sha256(committed), original, "committed: undo, right after the killed editor, restores");
});

t.test("kills during an undo, and during recovery itself", async (t) => {
  const dir = t.testdir();
  const pristine = writeModel(dir, "pristine.gguf", { upType: "Q4_K", downType: "F32", nFf: 64 });
  const original = sha256(pristine);
  for (const point of ["undo-marked", "undo-half"]) {
    const path = join(dir, `${point}.gguf`);
    copyFileSync(pristine, path);
    await editInPlace(path, EDITS);
    t.equal(await runChild(point, "undo", path), "SIGKILL", `${point}: the undo was killed`);
    t.same(await recover(path), { file: path, rolledBack: 1 }, `${point}: recovery finishes the undo`);
    t.equal(sha256(path), original, `${point}: original`);
    t.notOk(existsSync(journalPath(path)));
  }

  const path = join(dir, "recover-half.gguf");
  copyFileSync(pristine, path);
  t.equal(await runChild("patches-half", "edit", path, JSON.stringify(EDITS)), "SIGKILL");
  t.equal(await runChild("recover-half", "recover", path), "SIGKILL", "recovery killed half way");
  await recover(path);
  t.equal(sha256(path), original, "recovering a half-recovered file still gives the original");
});

t.test("a kill while writing an edited copy leaves no output and the source untouched", async (t) => {
  const dir = t.testdir();
  const src = writeModel(dir, "src.gguf", { upType: "Q4_K", downType: "F32", nFf: 64 });
  const before = readFileSync(src);
  t.equal(await runChild("copy-half", "copy", src, JSON.stringify(EDITS)), "SIGKILL");
  t.notOk(existsSync(`${src}.out`), "the output never appears half written");
  t.same(readFileSync(src), before);
  const abandoned = readdirSync(dir).filter((f) => f.endsWith(".debias-tmp"));
  t.equal(abandoned.length, 1, "the killed writer's partial copy is left behind");
  await editToNewFile(src, `${src}.out`, EDITS);
  t.same(readdirSync(dir).filter((f) => f.endsWith(".debias-tmp")), [], "the next copy to the same output removes it");
});
