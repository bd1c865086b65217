// Orderly shutdown of the daemons on SIGTERM / SIGINT.
#pragma once

namespace syncblock::driver {

// Blocks SIGTERM and SIGINT in the calling thread (and the threads it starts
// afterwards) and ignores SIGPIPE. Call before starting any thread.
void BlockTerminationSignals();
// Returns when SIGTERM or SIGINT arrives.
void WaitForTerminationSignal();

}  // namespace syncblock::driver
