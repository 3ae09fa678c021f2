// Locks on the model file itself (flock through the addon). In-place editors hold it exclusively;
// everything that reads weights (a loaded model, a copy being written) holds it shared, so weights
// never change under a reader of ours. The kernel releases a lock when its holder exits, however it
// exits, and keys it on the file, not the path: a symlink and the real path share one lock.
// Programs other than gguf-debias that memory-map the file take no lock and are not protected.
import { DebiasError } from "../errors.js";
import { native } from "../native.js";

/** Takes the lock on an open file descriptor, or throws E_LOCKED naming who may hold it. Released on close. */
export function lockOpenFile(fd: number, path: string, exclusive: boolean): void {
  if (native().lockFile(fd, exclusive)) return;
  throw new DebiasError("E_LOCKED", exclusive
    ? `${path} is in use by another process (an in-place edit, or a gguf-debias command reading it); wait for it to finish.`
    : `${path} is being edited in place by another process; wait for the edit to finish.`);
}
