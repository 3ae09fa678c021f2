// Advisory whole-file locks (flock): the kernel drops them when the holder exits, however it exits,
// so a crashed editor never leaves a lock behind, and two paths to one file share one lock.
#pragma once

#include <napi.h>

namespace gd {

// lockFile(fd: number, exclusive: boolean): boolean. Never waits: false when another open file holds
// a conflicting lock. Released when the descriptor is closed.
Napi::Value LockFile(const Napi::CallbackInfo & info);

}  // namespace gd
