// llama.cpp talks a lot on stderr. We keep its warnings and errors quiet by default but remember the
// first error line, because "failed to load model" means little without llama.cpp's reason.
#pragma once

#include <string>

namespace gd {

void InstallLogFilter();
void ClearLlamaError();
std::string FirstLlamaError();

}  // namespace gd
