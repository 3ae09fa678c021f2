// ggml's own type traits and quantizers, so TypeScript never re-implements a block format.
#pragma once

#include <napi.h>

namespace gd {

Napi::Value TypeInfo(const Napi::CallbackInfo & info);
Napi::Value Dequantize(const Napi::CallbackInfo & info);
Napi::Value Quantize(const Napi::CallbackInfo & info);
Napi::Value QuantizeFile(const Napi::CallbackInfo & info);

}  // namespace gd
