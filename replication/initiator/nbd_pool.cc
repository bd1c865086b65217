#include "replication/initiator/nbd_pool.h"

#include "absl/strings/str_cat.h"
#include "replication/util/status_macros.h"

namespace syncblock::repl::initiator {
namespace {

// As NbdConnect's default: a dial that gets no handshake in this time is a lost server.
constexpr std::chrono::seconds kConnectTimeout(10);

}  // namespace

NbdPool::NbdPool(int connections, std::chrono::milliseconds io_timeout)
    : wanted_connections_(connections < 1 ? 1 : connections), io_timeout_(io_timeout) {}

absl::StatusOr<std::unique_ptr<NbdIoConnection>> NbdPool::Dial(const NbdUri& uri) {
  return NbdIoConnection::Open(uri, kConnectTimeout, io_timeout_);
}

absl::Status NbdPool::Connect(const NbdUri& uri) {
  ASSIGN_OR_RETURN(std::unique_ptr<NbdIoConnection> conn, Dial(uri));
  const NbdExportInfo info = conn->info();
  absl::MutexLock lock(&mu_);
  ++generation_;
  ++connect_serial_;
  uri_ = uri;
  connected_ = true;
  idle_.clear();
  idle_.push_back(std::move(conn));
  open_ = 1;
  limit_ = (info.transmission_flags & nbd::kFlagCanMultiConn) ? wanted_connections_ : 1;
  size_.store(info.size);
  flags_.store(info.transmission_flags);
  return absl::OkStatus();
}

int NbdPool::max_connections() const {
  absl::MutexLock lock(&mu_);
  return limit_;
}

NbdUri NbdPool::uri() const {
  absl::MutexLock lock(&mu_);
  return uri_;
}

uint64_t NbdPool::connect_serial() const {
  absl::MutexLock lock(&mu_);
  return connect_serial_;
}

absl::StatusOr<NbdPool::Lease> NbdPool::Acquire(uint64_t* serial) {
  NbdUri uri;
  uint64_t generation;
  {
    absl::MutexLock lock(&mu_);
    *serial = connect_serial_;
    if (!connected_) return absl::UnavailableError("not connected to an NBD server yet");
    auto can_go = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !idle_.empty() || open_ < limit_;
    };
    mu_.Await(absl::Condition(&can_go));
    *serial = connect_serial_;
    generation = generation_;
    if (!idle_.empty()) {
      Lease lease{std::move(idle_.back()), generation_};
      idle_.pop_back();
      return lease;
    }
    ++open_;  // reserve the slot while dialling without the lock
    uri = uri_;
  }
  auto conn = Dial(uri);
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
  // and a retry must not pick one of them. Start a new generation, with no
  // connection yet; the next Acquire dials the same server again.
  ++generation_;
  idle_.clear();
  open_ = 0;
}

NbdPool::Outcome NbdPool::Run(const std::function<absl::Status(NbdIoConnection&)>& op) {
  Outcome out;
  auto lease = Acquire(&out.connect_serial);
  if (!lease.ok()) {
    out.status = lease.status();
    out.connection_lost = true;
    return out;
  }
  out.status = op(*lease->conn);
  out.connection_lost = IsConnectionBroken(out.status);
  Release(std::move(*lease), !out.connection_lost);
  return out;
}

}  // namespace syncblock::repl::initiator
