// Keeps a FUSE export's NBD pool (nbd_pool.h) pointed at the volume's
// primary while the primary moves (DESIGN.md rule 7): a request whose
// connection is lost is held, the primary is found again (PrimaryResolver:
// the URI served so far first, then the storage nodes' control API), the pool
// is connected to it, and the request is sent again. The application sees a
// stall, not an error, as long as a primary appears within
// `failover_timeout`; only then does the request fail (DEADLINE_EXCEEDED,
// which the FUSE layer answers with EIO). The export keeps serving: the next
// request starts a new wait.
//
// Which failures are "the primary is gone" (hold, resolve, resend) and which
// are the application's (answered at once) is decided per attempt by the
// pool (NbdPool::Outcome::connection_lost); replication/doc/failover.md,
// "Attachments follow the primary", lists them and says why resending a
// request whose outcome is unknown is safe (idempotent block commands; no
// resent write can land over a later one).
//
// Thread-safe. One thread at a time resolves; the others hold their requests
// until it has connected (or their own deadline has passed).
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "replication/initiator/nbd_pool.h"
#include "replication/initiator/primary_resolver.h"

namespace syncblock::repl::initiator {

struct PrimaryFollowerOptions {
  // The volume (export name) and the storage nodes' control addresses. With
  // no volume id or no resolver, a lost connection is retried on the same
  // URI only (a restarted server).
  std::string volume_id;
  std::vector<std::string> control_addresses;
  // How long a request is held, from its first lost connection, before it
  // fails. Well above a failover (seconds).
  std::chrono::milliseconds failover_timeout = std::chrono::seconds(120);
  // Pause between two failed attempts to find the primary.
  std::chrono::milliseconds retry_interval = std::chrono::milliseconds(250);
  // Called after each Connect() to a server, with its URI (the FUSE export
  // records it for the attacher). Called under the follower's lock, so the
  // records come in the order of the connections: it must not call back
  // into the follower.
  std::function<void(const std::string& uri)> on_connected;
};

class PrimaryFollower {
 public:
  // `pool` and `resolver` (may be null) must outlive the follower.
  PrimaryFollower(NbdPool* pool, PrimaryResolver* resolver, PrimaryFollowerOptions options);

  // Connects the pool to `uri` (no resolution: the caller was given it).
  absl::Status Start(const std::string& uri);

  // Runs `op` through the pool, holding and resending it across a lost
  // primary (see above). Returns the server's answer, or DEADLINE_EXCEEDED
  // when no primary appeared within the failover timeout.
  absl::Status Run(const std::function<absl::Status(NbdIoConnection&)>& op);

  // Reconnects to the primary (the current server when it still serves the
  // volume) and re-reads the export's size: SIGHUP after a volume grew.
  absl::Status Refresh();

  std::string current_uri() const;

 private:
  // Finds the primary and connects the pool to it; one attempt.
  absl::Status ConnectToPrimary();
  // Brings the pool to a server other than the one of `lost_serial`: waits
  // for a thread already resolving, or resolves itself until `deadline`.
  // `why` is how the connection was lost.
  absl::Status Recover(uint64_t lost_serial, absl::Time deadline, const absl::Status& why);
  // Takes the resolver role: waits until no one else has it (or `deadline`).
  bool BeginResolving(absl::Time deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  NbdPool* const pool_;
  PrimaryResolver* const resolver_;
  const PrimaryFollowerOptions options_;

  mutable absl::Mutex mu_;
  bool resolving_ ABSL_GUARDED_BY(mu_) = false;
  // Since when requests are held (the first lost connection not yet
  // recovered), and the server they were lost on: for the failover log line.
  bool stalled_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time stalled_since_ ABSL_GUARDED_BY(mu_);
  std::string stalled_uri_ ABSL_GUARDED_BY(mu_);
  std::string last_error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace syncblock::repl::initiator
