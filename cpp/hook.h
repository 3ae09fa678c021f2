// The graph hook llama.cpp calls on the decode thread (cb_eval): interventions on FFN activations and
// captures of requested tensors, for the request the Hook points at.
#pragma once

#include "context.h"
#include "ggml.h"

namespace gd {

bool HookCallback(ggml_tensor * t, bool ask, void * user_data);

}  // namespace gd
