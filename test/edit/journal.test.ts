import { existsSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { emptyJournal, journalPath, lockPath, readJournal, withLock, writeJournal } from "../../lib/edit/journal.js";

t.test("the lock admits one editor at a time and is released on failure", async (t) => {
  const model = join(t.testdir(), "m.gguf");
  let inner: unknown;
  await withLock(model, async () => {
    inner = await withLock(model, async () => "entered").catch((e: unknown) => e);
  });
  t.match(inner, { code: "E_LOCKED", message: new RegExp(`process ${process.pid}`) }, "a second holder is refused while the first runs");
  t.notOk(existsSync(lockPath(model)));
  await t.rejects(withLock(model, async () => { throw new Error("boom"); }), { message: "boom" });
  t.notOk(existsSync(lockPath(model)), "released after an exception");

  writeFileSync(lockPath(model), "");
  await t.rejects(withLock(model, async () => 1), { code: "E_LOCKED" }, "a lock just created, pid not yet written, is respected");
  const old = new Date(Date.now() - 60_000);
  utimesSync(lockPath(model), old, old);
  t.equal(await withLock(model, async () => 2), 2, "an unnamed lock a minute old is abandoned and taken over");
});

t.test("journals round-trip, and a malformed one is refused", async (t) => {
  const model = join(t.testdir(), "m.gguf");
  t.equal(await readJournal(model), null);
  const j = emptyJournal(model);
  j.entries.push({
    id: "1", state: "committed", createdAt: "", tool: "x", edits: [{ layer: 0, index: 1, scale: 0 }], description: [],
    fileSize: 10, mtimeMsBefore: 0, mtimeMsAfter: 0, sha256Before: "", sha256After: "",
    patches: [{ offset: 2, before: "AAE=", after: "AAA=" }],
  });
  await writeJournal(model, j);
  t.same(await readJournal(model), j);
  t.notOk(existsSync(`${journalPath(model)}.tmp`), "no temporary file is left");
  for (const bad of ['{"format":"other"}', JSON.stringify({ ...j, entries: [{ ...j.entries[0], patches: [{ offset: -1, before: "", after: "" }] }] }),
    JSON.stringify({ ...j, entries: [{ ...j.entries[0], patches: [{ offset: 1, before: "AAAA", after: "AA==" }] }] })]) {
    writeFileSync(journalPath(model), bad);
    await t.rejects(readJournal(model), { code: "E_JOURNAL_CORRUPT" });
  }
  await writeJournal(model, emptyJournal(model));
  t.notOk(existsSync(journalPath(model)), "writing an empty journal removes it");
});
