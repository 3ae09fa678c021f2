// Reading evaluate()'s request and createContext()'s options from JS objects.
#pragma once

#include <napi.h>

#include <string>

#include "context.h"

namespace gd {

// Throws a JS Error with `code` when `ok` is false.
void Require(Napi::Env env, bool ok, const char * code, const std::string & message);
EvalRequest ParseRequest(Napi::Env env, const Napi::Object & object, const ContextHandle & handle);
std::string StringOption(const Napi::Object & options, const char * key, const std::string & fallback);
double NumberOption(const Napi::Object & options, const char * key, double fallback);

}  // namespace gd
