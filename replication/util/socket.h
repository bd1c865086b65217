// Small blocking-socket helpers for the replication protocol and its tests:
// address parsing, connect with a timeout, listen, and whole-buffer IO that
// retries on EINTR and short transfers. Thread-compatible (plain functions).
#pragma once

#include <sys/uio.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace syncblock {

struct HostPort {
  std::string host;
  int port = 0;
  std::string ToString() const;
};

// "host:port", "[v6]:port". INVALID_ARGUMENT naming the text when malformed.
absl::StatusOr<HostPort> ParseHostPort(const std::string& text);

// A connected TCP socket (TCP_NODELAY set), or UNAVAILABLE naming the address.
absl::StatusOr<int> ConnectTcp(const HostPort& addr, std::chrono::milliseconds timeout);

// A listening TCP socket; port 0 picks a free one (see LocalPort).
absl::StatusOr<int> ListenTcp(const HostPort& addr, int backlog = 128);
int LocalPort(int fd);

// Fails with UNAVAILABLE on EOF or error (the message says which).
absl::Status ReadFull(int fd, void* buf, size_t n);
absl::Status WriteFull(int fd, const void* buf, size_t n);
absl::Status WritevFull(int fd, struct iovec* iov, int iovcnt);

// Sends fail after `timeout` of no progress (SO_SNDTIMEO), so a hung peer
// cannot block a sender forever.
void SetSendTimeout(int fd, std::chrono::milliseconds timeout);
void SetBufferSizes(int fd, int bytes);
// TCP keepalive probes and TCP_USER_TIMEOUT so that a silent peer (hung, or
// its host gone) fails the connection within about `timeout`.
void SetKeepAlive(int fd, std::chrono::milliseconds timeout);

// `count` distinct TCP ports on 127.0.0.1 that were free a moment ago, picked
// below the kernel's ephemeral range so that no outgoing connection takes one
// before the daemon that is given it binds it.
absl::StatusOr<std::vector<int>> PickFreePorts(int count);

}  // namespace syncblock
