// A pool of NBD connections to one export, for a server that answers many
// requests at once (the FUSE export): up to `connections` libnbd connections
// (nbd_io.h), each used by one request at a time, opened on demand. The pool knows only the server
// it was last Connect()ed to; finding another server when that one is gone is
// PrimaryFollower's job (primary_follower.h), which builds on Run()'s answer.
//
// Generations: Connect() opens a new generation of connections (to a new
// server, or the same one again) and re-reads the export's size (NBD learns
// the size only in the handshake: how an export that grew becomes visible).
// One broken connection ends its generation: the other connections reach the
// same server and are as dead, so none of them is handed out again. A
// connection of an older generation finishes its request and is closed.
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
#include "replication/initiator/nbd_io.h"

namespace syncblock::repl::initiator {

class NbdPool {
 public:
  explicit NbdPool(int connections,
                   std::chrono::milliseconds io_timeout = std::chrono::seconds(60));

  // Dials `uri` once and, when the handshake succeeds, makes it the server of
  // a new generation (size and flags from its answer). Errors as NbdConnect
  // (UNAVAILABLE, NOT_FOUND, ...); the pool is unchanged then.
  absl::Status Connect(const NbdUri& uri);

  uint64_t size() const { return size_.load(); }
  uint16_t transmission_flags() const { return flags_.load(); }
  int max_connections() const;
  NbdUri uri() const;
  // How many Connect()s succeeded: which server an attempt was made on.
  uint64_t connect_serial() const;

  struct Outcome {
    absl::Status status;
    // The server is not reachable through this generation any more: the
    // connection broke (IsConnectionBroken), or a new one could not be opened.
    // The request's outcome is unknown; `status` says why.
    bool connection_lost = false;
    uint64_t connect_serial = 0;  // connect_serial() when the attempt was made
  };
  // Runs `op` once, on a pooled connection (opening one when none is idle).
  // Before the first Connect() every attempt is `connection_lost`.
  Outcome Run(const std::function<absl::Status(NbdIoConnection&)>& op);

 private:
  struct Lease {
    std::unique_ptr<NbdIoConnection> conn;
    uint64_t generation = 0;
  };
  absl::StatusOr<std::unique_ptr<NbdIoConnection>> Dial(const NbdUri& uri);
  // A connection, or the dial error; `serial` is the Connect() it belongs to.
  absl::StatusOr<Lease> Acquire(uint64_t* serial);
  void Release(Lease lease, bool healthy);

  const int wanted_connections_;
  const std::chrono::milliseconds io_timeout_;
  std::atomic<uint64_t> size_{0};
  std::atomic<uint16_t> flags_{0};

  mutable absl::Mutex mu_;
  NbdUri uri_ ABSL_GUARDED_BY(mu_);
  bool connected_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::unique_ptr<NbdIoConnection>> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;  // of the current generation, idle or leased
  int limit_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t connect_serial_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace syncblock::repl::initiator
