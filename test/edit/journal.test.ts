import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { emptyJournal, readJournal, sha256Of, writeJournal, type Journal } from "../../lib/edit/journal.js";
import { journalPath, journalTmpPath } from "../../lib/edit/journal-path.js";

function journalOf(model: string): Journal {
  const j = emptyJournal(model);
  const before = Buffer.from([0, 1]);
  const after = Buffer.from([0, 0]);
  j.entries.push({
    id: "1", state: "committed", createdAt: "", tool: "x", edits: [{ layer: 0, index: 1, scale: 0 }], description: [],
    fileSize: 10, mtimeMsBefore: 0, mtimeMsAfter: 0, sha256Before: sha256Of([before]), sha256After: sha256Of([after]),
    patches: [{ offset: 2, before: before.toString("base64"), after: after.toString("base64") }],
  });
  return j;
}

const ID = { dev: "2049", ino: "18446744073709551557" };

t.test("journals round-trip, and a malformed one is refused", async (t) => {
  const model = join(t.testdir(), "m.gguf");
  const file = journalPath(model);
  t.equal(await readJournal(file), null);
  const j = journalOf(model);
  await writeJournal(file, j, ID);
  t.same(await readJournal(file), { ...j, identity: ID }, "stamped with the model's identity, an inode past 2^53 exactly");
  t.notOk(existsSync(journalTmpPath(file)), "no temporary file is left");
  const patch = j.entries[0]!.patches[0]!;
  const withPatch = (p: object): string => JSON.stringify({ ...j, entries: [{ ...j.entries[0], patches: [{ ...patch, ...p }] }] });
  const cases: [string, string, RegExp][] = [
    ["another format", '{"format":"other"}', /not a gguf-debias journal/],
    ["negative offset", withPatch({ offset: -1 }), /malformed/],
    ["lengths differ", withPatch({ before: "AAAA", after: "AA==" }), /different lengths/],
    // one flipped base64 character: well-formed, but not the bytes the checksum was taken of
    ["a flipped character", withPatch({ before: "BAE=" }), /original bytes do not match their checksum/],
    ["edited bytes changed", withPatch({ after: "AAI=" }), /edited bytes do not match their checksum/],
    // Buffer.from would skip the "*" and shift every later byte: the text is refused instead
    ["an invalid character", withPatch({ before: "A*E=" }), /not valid base64/],
    ["an offset past the end", withPatch({ offset: 9 }), /ends at byte 11, past the end of the 10-byte model/],
    ["an identity of numbers", JSON.stringify({ ...j, identity: { dev: 1, ino: 2 } }), /file identity is malformed/],
  ];
  for (const [what, text, message] of cases) {
    writeFileSync(file, text);
    await t.rejects(readJournal(file), { code: "E_JOURNAL_CORRUPT", message }, what);
  }
  await writeJournal(file, emptyJournal(model), ID);
  t.notOk(existsSync(file), "writing an empty journal removes it");
});
