// A pool of NBD connections to one export, for a server that answers many
// requests at once (the FUSE export): up to `connections` sockets, each used
// by one request at a time, opened on demand and replaced when they break. A
// request whose connection breaks is retried once on a fresh connection
// (reads, writes, trims and flushes are all idempotent), so a dropped socket
// or a restarted server costs a reconnect rather than an IO error. One broken
// connection retires all the others (a new generation): they reach the same
// server.
//
// Refresh() opens a new generation of connections and re-reads the export's
// size (NBD learns the size only in the handshake): how an export that grew
// becomes visible. Connections of the old generation finish their request and
// are closed.
//
// Several connections are used only when the server advertises
// NBD_FLAG_CAN_MULTI_CONN (else a flush on one would not cover writes
// completed on another); otherwise the pool keeps one.
//
// Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "csi/node/nbd_io.h"

namespace syncblock::csi {

class NbdPool {
 public:
  NbdPool(NbdUri uri, int connections,
          std::chrono::milliseconds io_timeout = std::chrono::seconds(60));

  // Connects once: learns the size and flags. UNAVAILABLE/NOT_FOUND as NbdConnect.
  absl::Status Start();
  // Reconnects and re-reads the size; the old size and connections stay when
  // the export cannot be reached.
  absl::Status Refresh();

  uint64_t size() const { return size_.load(); }
  uint16_t transmission_flags() const { return flags_.load(); }
  int max_connections() const;

  // Runs `op` on a pooled connection, retrying once on a fresh connection
  // when the first one breaks.
  absl::Status Run(const std::function<absl::Status(NbdIoConnection&)>& op);

 private:
  struct Lease {
    std::unique_ptr<NbdIoConnection> conn;
    uint64_t generation = 0;
  };
  absl::StatusOr<std::unique_ptr<NbdIoConnection>> Dial();
  absl::StatusOr<Lease> Acquire();
  void Release(Lease lease, bool healthy);

  const NbdUri uri_;
  const int wanted_connections_;
  const std::chrono::milliseconds io_timeout_;
  std::atomic<uint64_t> size_{0};
  std::atomic<uint16_t> flags_{0};

  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<NbdIoConnection>> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;  // of the current generation, idle or leased
  int limit_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace syncblock::csi
