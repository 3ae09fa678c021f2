// Per-instance state of the addon (worker threads and multiple Node environments each get their own).
#pragma once

#include <napi.h>

namespace gd {

struct AddonData {
    Napi::FunctionReference model_constructor;
    Napi::FunctionReference context_constructor;
};

inline AddonData & Data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

}  // namespace gd
