// Runs one editor operation in a child process so editor-crash.test.ts can SIGKILL it mid-way
// (GGUF_DEBIAS_KILL_AT) and check what the next open finds.
import { editInPlace, recover, undo } from "../../lib/edit/editor.js";
import { editToNewFile } from "../../lib/edit/new-file.js";

const [mode, path, arg] = process.argv.slice(2) as [string | undefined, string, string | undefined];
// without arguments it was started by a test runner sweeping the folder, not by a test: nothing to do
if (mode === undefined) process.exitCode = 0;
else if (mode === "edit") await editInPlace(path, JSON.parse(arg!));
else if (mode === "undo") await undo(path);
else if (mode === "recover") await recover(path);
else if (mode === "copy") await editToNewFile(path, `${path}.out`, JSON.parse(arg!));
else throw new Error(`unknown mode ${mode}`);
