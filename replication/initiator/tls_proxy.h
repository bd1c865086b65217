// A userspace TLS proxy for the kernel NBD client, which cannot speak TLS
// (nbd-client does the same): the kernel gets one end of a socketpair, and
// two threads carry bytes between the other end and the TLS session to the
// storage node, in both directions, until either side ends. Then both are
// shut down, so the kernel sees its connection die (and the node plugin
// reconnects it, as after any lost connection).
//
// The proxy lives in the process that made it (the CSI node plugin): a
// restarted plugin re-adopts its attachments through Reconnect, which makes
// new proxied connections.
//
// Thread-safe; each proxy owns its threads, which end on their own.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "replication/security/byte_stream.h"

namespace syncblock::repl::initiator {

// Starts proxying `stream` (a TLS session in the NBD transmission phase, on
// socket `stream_fd`, both owned by the proxy from now on) and returns the
// plain end for the kernel (the caller owns it). The socket's timeouts are
// cleared: the kernel applies its own.
absl::StatusOr<int> StartTlsProxy(std::unique_ptr<security::ByteStream> stream, int stream_fd);

// Proxies running now (for tests and metrics).
int RunningTlsProxies();

}  // namespace syncblock::repl::initiator
