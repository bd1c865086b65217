// Orderly shutdown of the daemons on SIGTERM / SIGINT, and SIGHUP for
// "re-read your files".
#pragma once

#include <functional>

namespace syncblock::driver {

// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread (and the threads it
// starts afterwards) and ignores SIGPIPE. Call before starting any thread.
void BlockTerminationSignals();
// Returns when SIGTERM or SIGINT arrives; calls `on_hangup` (when given) for
// every SIGHUP before that.
void WaitForTerminationSignal(const std::function<void()>& on_hangup = nullptr);

}  // namespace syncblock::driver
