#include "file-lock.h"

#include <cerrno>
#include <cstring>
#include <string>

#ifdef _WIN32
#include <io.h>
#include <windows.h>
#else
#include <sys/file.h>
#endif

#include "errors.h"

namespace gd {

Napi::Value LockFile(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsBoolean()) {
        Throw(env, "E_ARGUMENT", "lockFile expects (fd: number, exclusive: boolean)");
    }
    const int fd = info[0].As<Napi::Number>().Int32Value();
    const bool exclusive = info[1].As<Napi::Boolean>();
#ifdef _WIN32
    HANDLE handle = reinterpret_cast<HANDLE>(_get_osfhandle(fd));
    if (handle == INVALID_HANDLE_VALUE) Throw(env, "E_LOCK_FAILED", "cannot lock file descriptor " + std::to_string(fd) + ": it is not open");
    OVERLAPPED overlapped{};
    DWORD flags = LOCKFILE_FAIL_IMMEDIATELY | (exclusive ? LOCKFILE_EXCLUSIVE_LOCK : 0);
    if (LockFileEx(handle, flags, 0, MAXDWORD, MAXDWORD, &overlapped)) return Napi::Boolean::New(env, true);
    if (GetLastError() == ERROR_LOCK_VIOLATION) return Napi::Boolean::New(env, false);
    Throw(env, "E_LOCK_FAILED", "cannot lock file descriptor " + std::to_string(fd) + " (Windows error " + std::to_string(GetLastError()) + ")");
#else
    for (;;) {
        if (flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0) return Napi::Boolean::New(env, true);
        if (errno == EINTR) continue;
        if (errno == EWOULDBLOCK) return Napi::Boolean::New(env, false);
        Throw(env, "E_LOCK_FAILED", "cannot lock file descriptor " + std::to_string(fd) + ": " + std::strerror(errno));
    }
#endif
}

}  // namespace gd
