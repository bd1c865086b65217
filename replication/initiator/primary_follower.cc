#include "replication/initiator/primary_follower.h"

#include <thread>

#include "absl/strings/str_cat.h"
#include "replication/util/status_macros.h"
#include "spdlog/spdlog.h"

namespace syncblock::repl::initiator {

PrimaryFollower::PrimaryFollower(NbdPool* pool, PrimaryResolver* resolver,
                                 PrimaryFollowerOptions options)
    : pool_(pool), resolver_(resolver), options_(std::move(options)) {}

absl::Status PrimaryFollower::Start(const std::string& uri) {
  ASSIGN_OR_RETURN(NbdUri parsed, ParseNbdUri(uri));
  RETURN_IF_ERROR(pool_->Connect(parsed));
  if (options_.on_connected) options_.on_connected(parsed.ToString());
  return absl::OkStatus();
}

std::string PrimaryFollower::current_uri() const { return pool_->uri().ToString(); }

absl::Status PrimaryFollower::ConnectToPrimary() {
  const std::string current = current_uri();
  std::string target = current;
  if (resolver_ != nullptr && !options_.volume_id.empty()) {
    ASSIGN_OR_RETURN(target,
                     resolver_->Resolve(options_.volume_id, current, options_.control_addresses));
  }
  ASSIGN_OR_RETURN(NbdUri uri, ParseNbdUri(target));
  return pool_->Connect(uri);
}

bool PrimaryFollower::BeginResolving(absl::Time deadline) {
  auto free = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !resolving_; };
  if (!mu_.AwaitWithDeadline(absl::Condition(&free), deadline)) return false;
  resolving_ = true;
  return true;
}

absl::Status PrimaryFollower::Recover(uint64_t lost_serial, absl::Time deadline,
                                      const absl::Status& why) {
  {
    absl::MutexLock lock(&mu_);
    if (!stalled_) {
      stalled_ = true;
      stalled_since_ = absl::Now();
      stalled_uri_ = current_uri();
      spdlog::warn("volume {}: lost {} ({}); holding IO while finding the primary",
                   options_.volume_id, stalled_uri_, std::string(why.message()));
    }
    if (!BeginResolving(deadline)) {
      return absl::DeadlineExceededError(absl::StrCat(
          "volume ", options_.volume_id, ": no primary within ",
          absl::FormatDuration(absl::FromChrono(options_.failover_timeout)), ": ", last_error_));
    }
    // Another thread connected to a server since this request lost its
    // connection: try that one first.
    if (pool_->connect_serial() != lost_serial) {
      resolving_ = false;
      return absl::OkStatus();
    }
  }
  absl::Status st;
  for (;;) {
    st = ConnectToPrimary();
    if (st.ok() || absl::Now() >= deadline) break;
    {
      absl::MutexLock lock(&mu_);
      last_error_ = std::string(st.message());
    }
    absl::SleepFor(std::min(absl::FromChrono(options_.retry_interval), deadline - absl::Now()));
  }
  const std::string uri = current_uri();
  absl::MutexLock lock(&mu_);
  resolving_ = false;
  if (!st.ok()) {
    last_error_ = std::string(st.message());
    return absl::DeadlineExceededError(absl::StrCat(
        "volume ", options_.volume_id, ": no primary within ",
        absl::FormatDuration(absl::FromChrono(options_.failover_timeout)), ": ", last_error_));
  }
  const absl::Duration stall = absl::Now() - stalled_since_;
  if (uri != stalled_uri_) {
    spdlog::warn("volume {}: the primary moved from {} to {}; IO was held for {}",
                 options_.volume_id, stalled_uri_, uri, absl::FormatDuration(stall));
  } else {
    spdlog::warn("volume {}: reconnected to {}; IO was held for {}", options_.volume_id, uri,
                 absl::FormatDuration(stall));
  }
  stalled_ = false;
  last_error_.clear();
  // on_connected writes a small file; holding mu_ keeps the records in the
  // order of the connections (only the resolving thread reaches here).
  if (options_.on_connected) options_.on_connected(uri);
  return absl::OkStatus();
}

absl::Status PrimaryFollower::Run(const std::function<absl::Status(NbdIoConnection&)>& op) {
  absl::Time deadline = absl::InfiniteFuture();
  for (int attempt = 0;; ++attempt) {
    NbdPool::Outcome out = pool_->Run(op);
    if (!out.connection_lost) return out.status;
    const absl::Time now = absl::Now();
    if (attempt == 0) {
      deadline = now + absl::FromChrono(options_.failover_timeout);
    } else {
      // A server that takes connections and then drops every request must
      // not make this a busy loop.
      absl::SleepFor(std::min(absl::FromChrono(options_.retry_interval), deadline - now));
    }
    RETURN_IF_ERROR(Recover(out.connect_serial, deadline, out.status));
  }
}

absl::Status PrimaryFollower::Refresh() {
  {
    absl::MutexLock lock(&mu_);
    BeginResolving(absl::InfiniteFuture());
  }
  absl::Status st = ConnectToPrimary();
  const std::string uri = current_uri();
  absl::MutexLock lock(&mu_);
  resolving_ = false;
  if (st.ok() && options_.on_connected) options_.on_connected(uri);
  return st;
}

}  // namespace syncblock::repl::initiator
