// Scatter-gather vectors (struct iovec) as the socket and TLS senders walk
// them: advancing past what a short send took. Plain functions.
#pragma once

#include <sys/uio.h>

#include <cstddef>

#include "absl/container/inlined_vector.h"

namespace syncblock {

// Advances `iov` past `n` bytes: entries wholly sent (and empty ones) are
// passed, the next one trimmed. Returns how many entries were passed.
int AdvanceIov(struct iovec* iov, int iovcnt, size_t n);

// A sender's own copy of a caller's (const) vector, on the stack for the
// few entries a message has.
using IovCopy = absl::InlinedVector<struct iovec, 8>;

}  // namespace syncblock
