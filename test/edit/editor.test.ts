import { spawnSync } from "node:child_process";
import { chmodSync, closeSync, copyFileSync, existsSync, linkSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import t from "tap";
import { editInPlace, hasInterruptedEdit, listEdits, recover, undo, undoAll } from "../../lib/edit/editor.js";
import { editToNewFile } from "../../lib/edit/new-file.js";
import { sha256File } from "../../lib/files.js";
import { journalPath, journalTmpPath } from "../../lib/edit/journal-path.js";
import { native } from "../../lib/native.js";
import { openGguf } from "../../lib/gguf/reader.js";
import { sha256, writeModel } from "./helpers.js";
import { fixturePath } from "../helpers/fixtures.js";

const SPEC = { upType: "Q4_K", downType: "F32", nFf: 64 } as const;

t.test("an in-place edit changes exactly the planned bytes and is recorded", async (t) => {
  const dir = t.testdir();
  const path = writeModel(dir, "m.gguf", SPEC);
  const original = readFileSync(path);
  const g = await openGguf(path);
  const gate = g.tensor("blk.1.ffn_gate.weight")!;
  const result = await editInPlace(path, [{ layer: 1, index: 9, scale: 0 }], { tool: "gguf-debias test" });
  const expected = Buffer.from(original);
  expected.fill(0, gate.absoluteOffset + 9 * 144, gate.absoluteOffset + 10 * 144);
  t.same(readFileSync(path), expected, "the file equals the original with gate row 9 zeroed, nothing else");
  t.same(result.edited, [{ layer: 1, index: 9, scale: 0 }]);
  t.equal(result.bytesWritten, 144);
  t.equal(result.journal, journalPath(path));
  const fd = openSync(path, "r");
  t.ok(native().lockFile(fd, true), "the lock is released");
  closeSync(fd);
  const history = await listEdits(path);
  t.equal(history.entries.length, 1);
  t.equal(history.entries[0]!.state, "committed");
  t.equal(history.entries[0]!.tool, "gguf-debias test");
  t.equal(history.entries[0]!.bytes, 144);
  t.equal(history.provenance, null);

  const undone = await undo(path);
  t.same(undone, { file: path, restored: true, edits: [{ layer: 1, index: 9, scale: 0 }], bytesRestored: 144, rolledBack: 0, remaining: [] });
  t.equal(await sha256File(path), sha256(path), "sha256File hashes the whole file");
  t.same(readFileSync(path), original, "undo restores the original byte for byte");
  t.notOk(existsSync(journalPath(path)), "an empty journal is removed");
  await t.rejects(undo(path), { code: "E_UNDO_NOTHING" });
});

t.test("stacked edits undo newest first", async (t) => {
  const path = writeModel(t.testdir(), "m.gguf", SPEC);
  const shas = [sha256(path)];
  const edits = [
    [{ layer: 0, index: 3, scale: 0 }],
    [{ layer: 0, index: 3, scale: 0.5 }, { layer: 1, index: 60, scale: 0 }],
    [{ layer: 0, index: 3, scale: 0.25 }],
  ];
  for (const e of edits) {
    await editInPlace(path, e);
    shas.push(sha256(path));
  }
  t.equal(new Set(shas).size, 4, "each edit changed the file");
  t.same((await listEdits(path)).entries.map((e) => e.edits), edits);
  for (let i = 3; i > 0; i--) {
    await undo(path);
    t.equal(sha256(path), shas[i - 1], `undo ${4 - i} gives the state before edit ${i}`);
  }

  for (const e of edits) await editInPlace(path, e);
  const all = await undoAll(path);
  t.same(all.map((r) => r.edits), [...edits].reverse());
  t.equal(sha256(path), shas[0], "undoAll gives the original");
});

t.test("edits that change nothing leave no journal", async (t) => {
  const path = writeModel(t.testdir(), "m.gguf", SPEC);
  const r = await editInPlace(path, [{ layer: 0, index: 1, scale: 1 }]);
  t.equal(r.bytesWritten, 0);
  t.equal(r.journal, null);
  t.notOk(existsSync(journalPath(path)));
});

t.test("refusals leave the file, and no journal, behind", async (t) => {
  const dir = t.testdir();
  const path = writeModel(dir, "m.gguf", SPEC);
  const before = sha256(path);
  const clean = (what: string): void => {
    t.equal(sha256(path), before, `${what}: file unchanged`);
    t.notOk(existsSync(journalPath(path)), `${what}: no journal`);
  };
  await t.rejects(editInPlace(path, [{ layer: 0, index: 64, scale: 0 }]), { code: "E_NEURON_RANGE" });
  clean("index out of range");
  await t.rejects(editInPlace(path, [{ layer: 9, index: 0, scale: 0 }]), { code: "E_LAYER_RANGE" });
  clean("layer out of range");

  chmodSync(path, 0o444);
  await t.rejects(editInPlace(path, [{ layer: 0, index: 0, scale: 0 }]), { code: "E_GGUF_READONLY", message: /m\.gguf is read-only/ });
  clean("read-only");
  chmodSync(path, 0o644);

  const reader = openSync(path, "r");
  t.ok(native().lockFile(reader, false), "a reader holds the model");
  await t.rejects(editInPlace(path, [{ layer: 0, index: 0, scale: 0 }]), { code: "E_LOCKED", message: /m\.gguf is in use by another process/ });
  clean("held by a reader");
  closeSync(reader);

  writeFileSync(journalPath(path), "{not json");
  await t.rejects(editInPlace(path, [{ layer: 0, index: 0, scale: 0 }]), { code: "E_JOURNAL_CORRUPT", message: /debias-journal/ });
  t.equal(sha256(path), before, "corrupt journal: file unchanged");
});

t.test("a file changed behind the journal's back is not undone over", async (t) => {
  const path = writeModel(t.testdir(), "m.gguf", SPEC);
  await editInPlace(path, [{ layer: 0, index: 2, scale: 0 }]);
  const g = await openGguf(path);
  const bytes = readFileSync(path);
  bytes[g.tensor("blk.0.ffn_gate.weight")!.absoluteOffset + 2 * 144] = 7;
  writeFileSync(path, bytes);
  await t.rejects(undo(path), { code: "E_UNDO_MISMATCH" });
  await t.rejects(editInPlace(path, [{ layer: 0, index: 5, scale: 0 }]), { code: "E_JOURNAL_STALE" });
  t.same(readFileSync(path), bytes, "left as it was");
  t.same(await recover(path), { file: path, rolledBack: 0 });
});

t.test("an edited copy carries the same tensor bytes as an in-place edit, plus provenance", async (t) => {
  const dir = t.testdir();
  const src = writeModel(dir, "src.gguf", { ...SPEC, upBias: true });
  const srcSha = sha256(src);
  const inPlace = join(dir, "inplace.gguf");
  copyFileSync(src, inPlace);
  const edits = [{ layer: 0, index: 7, scale: 0 }, { layer: 1, index: 8, scale: 0.5 }];
  await editInPlace(inPlace, edits);

  const dst = join(dir, "out.gguf");
  const r = await editToNewFile(src, dst, edits, { tool: "gguf-debias 0.1.0" });
  t.equal(sha256(src), srcSha, "the source is untouched");
  t.equal(r.sourceSha256, srcSha);
  const a = await openGguf(inPlace);
  const b = await openGguf(dst);
  t.same(readFileSync(dst).subarray(b.dataOffset), readFileSync(inPlace).subarray(a.dataOffset), "identical data sections");
  t.same(b.tensors.map((x) => [x.name, x.offset, x.byteSize]), a.tensors.map((x) => [x.name, x.offset, x.byteSize]));
  t.same(b.kvs.slice(0, a.kvs.length), a.kvs, "the original KVs come first, unchanged");
  t.equal(b.dataOffset % b.alignment, 0);
  const prov = (await listEdits(dst)).provenance!;
  t.same(prov, { tool: "gguf-debias 0.1.0", sourceSha256: srcSha, edits });

  const dst2 = join(dir, "out2.gguf");
  await editToNewFile(dst, dst2, [{ layer: 0, index: 1, scale: 0.25 }]);
  const prov2 = (await listEdits(dst2)).provenance!;
  t.same(prov2.edits, [...edits, { layer: 0, index: 1, scale: 0.25 }], "provenance accumulates over generations");
  t.equal(prov2.sourceSha256, sha256(dst));

  await t.rejects(editToNewFile(src, dst, edits), { code: "E_DST_EXISTS" });
  await t.rejects(editToNewFile(src, src, edits), { code: "E_EDIT_SAME_FILE" });
  await editToNewFile(src, dst, [{ layer: 0, index: 7, scale: 0 }], { overwrite: true });
  t.equal((await listEdits(dst)).provenance!.edits.length, 1, "overwrite replaces the output");
});

t.test("an edited copy never writes through a shared or input-named temporary file", async (t) => {
  const dir = t.testdir();
  // the input carries the name the old fixed temporary file had: writing used to truncate it
  const src = writeModel(dir, "out.gguf.debias-tmp", SPEC);
  const before = sha256(src);
  await editToNewFile(src, join(dir, "out.gguf"), [{ layer: 0, index: 1, scale: 0 }]);
  t.equal(sha256(src), before, "the input is intact");
  t.equal((await listEdits(join(dir, "out.gguf"))).provenance!.edits.length, 1);
  // an input named like a dead writer's partial copy of the output is not swept away as one
  const named = writeModel(dir, "swept.gguf.3999999-abcd1234.debias-tmp", SPEC);
  const abandoned = join(dir, "swept.gguf.3999998-abcd1234.debias-tmp");
  writeFileSync(abandoned, "a partial copy");
  await editToNewFile(named, join(dir, "swept.gguf"), [{ layer: 0, index: 1, scale: 0 }]);
  t.ok(existsSync(named), "the input survives the sweep");
  t.notOk(existsSync(abandoned), "a dead writer's partial copy does not");

  // two jobs writing one output: one wins, the other is told, and the output is the winner's, whole
  const dst = join(dir, "race.gguf");
  const jobs = await Promise.allSettled([0, 1].map((i) => editToNewFile(src, dst, [{ layer: i, index: 2, scale: 0 }])));
  const won = jobs.flatMap((r, i) => (r.status === "fulfilled" ? [i] : []));
  t.equal(won.length, 1, "exactly one job reports success");
  const lost = jobs.find((r) => r.status === "rejected") as PromiseRejectedResult;
  t.match(lost.reason, { code: "E_DST_EXISTS" }, "the other is refused");
  t.same((await listEdits(dst)).provenance!.edits, [{ layer: won[0]!, index: 2, scale: 0 }], "the output holds the winner's edit");
  t.same(readdirSync(dir).filter((f) => f.endsWith(".debias-tmp") && f !== "out.gguf.debias-tmp" && f !== basename(named)), [], "no temporary file is left");
});

t.test("pipes, folders and devices are refused, never opened", async (t) => {
  const dir = t.testdir();
  const fifo = join(dir, "model.gguf");
  if (spawnSync("mkfifo", [fifo]).status !== 0) return t.skip("mkfifo is not available");
  const src = writeModel(dir, "src.gguf", SPEC);
  // opening a FIFO for reading blocks until a writer appears: each call below would hang
  await t.rejects(openGguf(fifo), { code: "E_NOT_A_FILE", message: /is a pipe/ });
  await t.rejects(editInPlace(fifo, [{ layer: 0, index: 0, scale: 0 }]), { code: "E_NOT_A_FILE" });
  await t.rejects(editToNewFile(fifo, join(dir, "o.gguf"), []), { code: "E_NOT_A_FILE" });
  await t.rejects(editToNewFile(src, fifo, [], { overwrite: true }), { code: "E_NOT_A_FILE", message: /output .* is not a regular file/ });
  await t.rejects(undo(dir), { code: "E_NOT_A_FILE", message: /is a folder/ });
});

t.test("an interrupted edit is rolled back by undo, which says so", async (t) => {
  const path = writeModel(t.testdir(), "m.gguf", SPEC);
  const before = sha256(path);
  await editInPlace(path, [{ layer: 0, index: 4, scale: 0 }]);
  const edited = readFileSync(path);
  // the state a kill between journal and commit leaves: a pending entry over a half-written file
  const journal = JSON.parse(readFileSync(journalPath(path), "utf8")) as { entries: { state: string }[] };
  journal.entries[0]!.state = "pending";
  writeFileSync(journalPath(path), JSON.stringify(journal));
  t.ok(await hasInterruptedEdit(path));
  t.same(await undo(path), { file: path, restored: true, edits: [], bytesRestored: 0, rolledBack: 1, remaining: [] }, "undo reports the roll-back instead of 'nothing to undo'");
  t.equal(sha256(path), before, "the original is back");
  t.notSame(readFileSync(path), edited);
});

t.test("an edit interrupted through one name is seen through a hard link and after a rename; undo takes back only it", async (t) => {
  const dir = t.testdir();
  const a = writeModel(dir, "a.gguf", SPEC);
  const first = [{ layer: 0, index: 4, scale: 0 }];
  await editInPlace(a, first);
  const afterFirst = sha256(a);
  await editInPlace(a, [{ layer: 1, index: 7, scale: 0 }]);
  // the state a kill between journal and commit leaves (the patches written, the entry still pending)
  const journal = JSON.parse(readFileSync(journalPath(a), "utf8")) as { entries: { state: string }[] };
  journal.entries[1]!.state = "pending";
  writeFileSync(journalPath(a), JSON.stringify(journal));

  const b = join(dir, "b.gguf");
  linkSync(a, b);
  t.ok(await hasInterruptedEdit(b), "a hard link sees the interrupted edit");
  const history = await listEdits(b);
  t.equal(history.journal, journalPath(a), "through the journal of the other name");
  t.ok(history.journalUnderOtherName);
  t.same(history.entries.map((e) => e.state), ["committed", "pending"]);
  await t.rejects(editToNewFile(b, join(dir, "out.gguf"), first), { code: "E_JOURNAL_PENDING", message: /a\.gguf\.debias-journal/ });

  unlinkSync(a);
  const c = join(dir, "c.gguf");
  renameSync(b, c);
  t.ok(await hasInterruptedEdit(c), "so does the file renamed without its journal");
  const undone = await undo(c);
  t.match(undone, { rolledBack: 1, edits: [], bytesRestored: 0 }, "undo rolls back the interrupted edit");
  t.same(undone.remaining.map((e) => e.edits), [first], "and says the first edit remains");
  t.equal(sha256(c), afterFirst, "the committed edit before it is kept");
  t.notOk(await hasInterruptedEdit(c));
  t.same((await undo(c)).edits, first, "the next undo takes back the first edit");
  t.notOk(existsSync(journalPath(a)), "its emptied journal is removed");
});

t.test("a journal of another file with the same inode number elsewhere, or of another size, is not taken", async (t) => {
  const dir = t.testdir();
  const a = writeModel(dir, "a.gguf", SPEC);
  await editInPlace(a, [{ layer: 0, index: 4, scale: 0 }]);
  const b = join(dir, "b.gguf");
  linkSync(a, b);
  const journal = JSON.parse(readFileSync(journalPath(a), "utf8")) as { entries: { fileSize: number }[] };
  journal.entries[0]!.fileSize += 1;
  writeFileSync(journalPath(a), JSON.stringify(journal));
  t.equal((await listEdits(b)).journal, journalPath(b), "a recorded size that differs: a reused inode, not this file");
});

t.test("a journal's leftover temporary file is cleared by the next edit", async (t) => {
  const path = writeModel(t.testdir(), "m.gguf", SPEC);
  writeFileSync(journalTmpPath(journalPath(path)), "{half written");
  await editInPlace(path, [{ layer: 0, index: 0, scale: 0 }]);
  await undo(path);
  t.notOk(existsSync(journalTmpPath(journalPath(path))));
});

// A small file system of its own (root only): the copy runs out of space half-way.
const FULL = "/tmp/gguf-debias-full-disk-test";

t.test("a full disk never publishes a cut-short copy, and the previous output survives", { skip: process.getuid?.() === 0 ? false : "mounting a small tmpfs needs root" }, async (t) => {
  spawnSync("mkdir", ["-p", FULL]);
  if (spawnSync("mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", FULL]).status !== 0) {
    t.skip("mounting a small tmpfs is not allowed here");
    return;
  }
  t.teardown(() => spawnSync("umount", [FULL]));
  const dst = join(FULL, "out.gguf");
  writeFileSync(dst, "the previous output");
  // 740 KB in one write that comes back short (the system writes what fits), then 12 MB that runs into ENOSPC
  for (const src of [fixturePath("qwen2-random"), fixturePath("llama-localized")]) {
    await t.rejects(editToNewFile(src, dst, [{ layer: 0, index: 1, scale: 0 }], { overwrite: true }), { code: "E_IO", message: /is the disk full|ENOSPC|no space/i }, basename(src));
    t.equal(readFileSync(dst, "utf8"), "the previous output", "the previous output is untouched");
    t.same(readdirSync(FULL), ["out.gguf"], "no partial copy is left");
    await t.rejects(editToNewFile(src, join(FULL, "new.gguf"), [{ layer: 0, index: 1, scale: 0 }]), { code: "E_IO" });
    t.notOk(existsSync(join(FULL, "new.gguf")), "no output appears");
  }
});
