#include "log.h"

#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "llama.h"

namespace gd {
namespace {

std::mutex log_mutex;
std::string first_error;
bool capturing = false;
bool verbose = false;

void Filter(ggml_log_level level, const char * text, void *) {
    if (verbose) {
        std::fputs(text, stderr);
    }
    std::lock_guard<std::mutex> lock(log_mutex);
    // The first error names the cause; the lines after it only say that loading failed.
    if (level == GGML_LOG_LEVEL_ERROR) {
        capturing = first_error.empty();
        if (capturing) {
            first_error = text;
        }
    } else if (level == GGML_LOG_LEVEL_CONT && capturing) {
        first_error += text;
    } else if (level != GGML_LOG_LEVEL_CONT) {
        capturing = false;
    }
}

}  // namespace

void InstallLogFilter() {
    const char * env = std::getenv("GGUF_DEBIAS_LLAMA_LOG");
    verbose = env != nullptr && env[0] != '\0' && env[0] != '0';
    llama_log_set(Filter, nullptr);
}

void ClearLlamaError() {
    std::lock_guard<std::mutex> lock(log_mutex);
    first_error.clear();
    capturing = false;
}

std::string FirstLlamaError() {
    std::lock_guard<std::mutex> lock(log_mutex);
    std::string line = first_error;
    while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) {
        line.pop_back();
    }
    return line;
}

}  // namespace gd
