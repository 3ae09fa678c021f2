// Where a model's edit journal lives: beside the model under its name plus a suffix, or, for a model
// reached through a hard link or renamed since its edit, another journal in its folder that records the
// same file. Kept apart from the journal's contents so the checks on user paths (lib/files.ts) can
// protect journals without depending on the editor.
import { lstat, readdir, readFile, stat } from "node:fs/promises";
import { dirname, join } from "node:path";

const SUFFIX = ".debias-journal";

/** Where the journal of the model at real path `model` is created: beside it. */
export const journalPath = (model: string): string => `${model}${SUFFIX}`;
export const journalTmpPath = (journal: string): string => `${journal}.tmp`;

/**
 * The journal of the model at real path `model`: its own, beside it, or else a journal in its folder
 * recording the same file (device, inode and size), which a hard link to the model or the model's name
 * before a rename left there. Names are tried in sorted order, so the answer never depends on the
 * directory's order. Without either, where its own would be.
 */
export async function findJournal(model: string): Promise<string> {
  const own = journalPath(model);
  if (await lstat(own).then(() => true, () => false)) return own;
  const st = await stat(model, { bigint: true });
  const dir = dirname(model);
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith(SUFFIX)).sort();
  for (const name of names) {
    const file = join(dir, name);
    // a journal that cannot be read names no file; its own model reports it
    const j = await readFile(file, "utf8").then((text) => JSON.parse(text) as RecordedJournal, () => null);
    const recorded = j?.identity;
    if (recorded?.dev === String(st.dev) && recorded.ino === String(st.ino) && Array.isArray(j?.entries) && j.entries.at(-1)?.fileSize === Number(st.size)) return file;
  }
  return own;
}

/** The part of a journal file that says which file it records. */
interface RecordedJournal {
  identity?: { dev?: string; ino?: string };
  entries?: { fileSize?: number }[];
}
