// Shared by the translation units of CFaceEngine (not part of the C ABI): the one exception type they throw and the
// guard every `extern "C"` entry point runs its body in, so that no exception crosses the C boundary and every
// failure is a status plus a message that never holds pixel, descriptor or embedding data.
#pragma once

#include "CFaceEngine.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

namespace fe {

/// A failure with its C status.
struct Error : std::runtime_error {
    fe_status status;
    Error(fe_status s, const std::string &message) : std::runtime_error(message), status(s) {}
};

/// Copies `text` into the caller's buffer, truncated and NUL-terminated.
inline void copyMessage(const std::string &text, char *message, size_t size) {
    if (!message || size == 0) return;
    size_t n = std::min(text.size(), size - 1);
    std::memcpy(message, text.data(), n);
    message[n] = 0;
}

/// Runs `body`; any exception becomes its status (FE_ERR_INTERNAL unless an `Error`) and message.
template <typename Body>
fe_status guarded(char *message, size_t size, Body body) {
    try {
        body();
        copyMessage("", message, size);
        return FE_OK;
    } catch (const Error &e) {
        copyMessage(e.what(), message, size);
        return e.status;
    } catch (const std::bad_alloc &) {
        copyMessage("out of memory", message, size);
        return FE_ERR_INTERNAL;
    } catch (const std::exception &e) {
        copyMessage(std::string("internal error: ") + e.what(), message, size);
        return FE_ERR_INTERNAL;
    } catch (...) {
        copyMessage("internal error", message, size);
        return FE_ERR_INTERNAL;
    }
}

}  // namespace fe
