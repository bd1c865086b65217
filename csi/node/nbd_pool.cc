#include "csi/node/nbd_pool.h"

#include "absl/strings/str_cat.h"
#include "replication/util/status_macros.h"

namespace syncblock::csi {

NbdPool::NbdPool(NbdUri uri, int connections, std::chrono::milliseconds io_timeout)
    : uri_(std::move(uri)),
      wanted_connections_(connections < 1 ? 1 : connections),
      io_timeout_(io_timeout) {}

absl::StatusOr<std::unique_ptr<NbdIoConnection>> NbdPool::Dial() {
  ASSIGN_OR_RETURN(NbdConnection conn, NbdConnect(uri_));
  return std::make_unique<NbdIoConnection>(std::move(conn), io_timeout_);
}

absl::Status NbdPool::Start() { return Refresh(); }

absl::Status NbdPool::Refresh() {
  ASSIGN_OR_RETURN(std::unique_ptr<NbdIoConnection> conn, Dial());
  const NbdExportInfo info = conn->info();
  absl::MutexLock lock(&mu_);
  ++generation_;
  idle_.clear();
  idle_.push_back(std::move(conn));
  open_ = 1;
  limit_ = (info.transmission_flags & nbdproto::kFlagCanMultiConn) ? wanted_connections_ : 1;
  size_.store(info.size);
  flags_.store(info.transmission_flags);
  return absl::OkStatus();
}

int NbdPool::max_connections() const {
  absl::MutexLock lock(&mu_);
  return limit_;
}

absl::StatusOr<NbdPool::Lease> NbdPool::Acquire() {
  uint64_t generation;
  {
    absl::MutexLock lock(&mu_);
    auto can_go = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !idle_.empty() || open_ < limit_;
    };
    mu_.Await(absl::Condition(&can_go));
    if (!idle_.empty()) {
      Lease lease{std::move(idle_.back()), generation_};
      idle_.pop_back();
      return lease;
    }
    ++open_;  // reserve the slot while dialling without the lock
    generation = generation_;
  }
  auto conn = Dial();
  if (!conn.ok()) {
    absl::MutexLock lock(&mu_);
    if (generation == generation_) --open_;
    return conn.status();
  }
  return Lease{std::move(*conn), generation};
}

void NbdPool::Release(Lease lease, bool healthy) {
  absl::MutexLock lock(&mu_);
  if (lease.generation != generation_) return;  // closed with the old generation
  if (healthy) {
    idle_.push_back(std::move(lease.conn));
    return;
  }
  // The server went away or restarted: its other connections are as dead,
  // and a retry must not pick one of them. Start a new generation.
  ++generation_;
  idle_.clear();
  open_ = 0;
}

absl::Status NbdPool::Run(const std::function<absl::Status(NbdIoConnection&)>& op) {
  absl::Status last;
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto lease = Acquire();
    if (!lease.ok()) return lease.status();
    last = op(*lease->conn);
    const bool broken = IsConnectionBroken(last);
    Release(std::move(*lease), !broken);
    if (!broken) return last;
  }
  return last;
}

}  // namespace syncblock::csi
