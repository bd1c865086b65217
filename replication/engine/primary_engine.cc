#include "replication/engine/primary_engine.h"

#include "replication/util/logging.h"
#include <sys/socket.h>

#include <bit>
#include <set>

#include "absl/strings/str_cat.h"
#include "replication/engine/primary_engine_state.h"

namespace syncblock::repl {

using Clock = std::chrono::steady_clock;

const char* PeerStateName(PeerState s) {
  switch (s) {
    case PeerState::kOffline: return "offline";
    case PeerState::kResyncing: return "resyncing";
    case PeerState::kInSync: return "in_sync";
    case PeerState::kFailed: return "failed";
  }
  return "unknown";
}

PrimaryEngine::PrimaryEngine(Replica* replica, const EngineOptions& opts)
    : replica_(replica), opts_(opts), store_(replica->store()) {}

PrimaryEngine::~PrimaryEngine() { Stop(absl::UnavailableError("engine destroyed")); }

absl::Status PrimaryEngine::Start() {
  std::unique_lock<std::mutex> lock(mu_);
  manifest_ = replica_->manifest();
  size_ = manifest_.size_bytes;
  // Sequence numbers only grow, also across restarts of the primary: start past
  // both what was applied and the clock in microseconds, which outruns any
  // write rate this engine reaches.
  uint64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
  last_seq_ = std::max(replica_->applied_seq(), now_us);
  auto activity = DirtyBitmap::Open(store_.BitmapPath("activity"), manifest_.regions());
  if (!activity.ok()) return activity.status();
  activity_ = *std::move(activity);
  SyncPeersWithManifestLocked();
  // Writes in flight when the previous primary run ended may have reached some
  // replicas and not others: every peer resyncs those regions.
  for (auto& [id, peer] : peers_) {
    if (absl::Status s = peer->bitmap->Merge(*activity_); !s.ok()) return s;
  }
  if (absl::Status s = activity_->ClearAll(); !s.ok()) return s;
  if (absl::Status s = LoadSnapshotsLocked(); !s.ok()) return s;
  std::vector<std::shared_ptr<IoRequest>> none;
  MaybeActivateLocked(&none);
  housekeeping_ = std::thread([this] { HousekeepingLoop(); });
  for (auto& [id, peer] : peers_) {
    Peer* p = peer.get();
    p->link_thread = std::thread([this, p] { LinkLoop(p); });
  }
  spdlog::info("volume {}: primary at epoch {} with {} member(s), quorum {}", manifest_.volume_id,
               manifest_.epoch, manifest_.members.size(), manifest_.Quorum());
  return absl::OkStatus();
}

void PrimaryEngine::Stop(absl::Status reason) {
  std::vector<std::shared_ptr<IoRequest>> done;
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && !housekeeping_.joinable()) return;
    stopping_ = true;
    FenceLocked(reason, &done);
    for (auto& [id, peer] : peers_) {
      if (peer->link_thread.joinable()) threads.push_back(std::move(peer->link_thread));
    }
    for (auto& peer : retired_peers_) {
      if (peer->link_thread.joinable()) threads.push_back(std::move(peer->link_thread));
    }
    if (housekeeping_.joinable()) threads.push_back(std::move(housekeeping_));
    cv_.notify_all();
  }
  Finish(done);
  for (auto& t : threads) t.join();
  std::lock_guard<std::mutex> lock(mu_);
  if (registry_dirty_) SaveSnapshotsLocked();
}

bool PrimaryEngine::fenced() const {
  std::lock_guard<std::mutex> lock(mu_);
  return fenced_;
}

uint64_t PrimaryEngine::Size() const { return size_.load(); }

void PrimaryEngine::Finish(std::vector<std::shared_ptr<IoRequest>>& done) {
  for (auto& req : done) {
    if (req->done) req->done(*req);
  }
  done.clear();
}

void PrimaryEngine::Submit(std::shared_ptr<IoRequest> req) {
  std::vector<std::shared_ptr<IoRequest>> done;
  bool ranged = req->op != IoOp::kFlush;
  if (ranged && (req->offset > Size() || req->length > Size() - req->offset)) {
    req->status = absl::OutOfRangeError(absl::StrCat("request at ", req->offset, "+", req->length,
                                                     " is past the end (", Size(), ")"));
    done.push_back(std::move(req));
    Finish(done);
    return;
  }
  if (req->op == IoOp::kWrite && req->data.size() != req->length) {
    req->status = absl::InvalidArgumentError("write payload and length differ");
    done.push_back(std::move(req));
    Finish(done);
    return;
  }
  uint64_t sync_seq = 0;
  bool read_now = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (fenced_) {
      req->status = fence_reason_;
      done.push_back(std::move(req));
    } else if (!active_) {
      held_.emplace_back(std::move(req), Clock::now() + opts_.io_timeout);
    } else if (req->op == IoOp::kRead) {
      read_now = true;  // reads need no ordering; they run outside the lock
    } else {
      sync_seq = SubmitLocked(req, &done);
    }
  }
  if (read_now) Read(std::move(req));
  if (sync_seq != 0) FinishLocalSync(sync_seq, store_.Sync());
  Finish(done);
}

void PrimaryEngine::Read(std::shared_ptr<IoRequest> req) {
  req->data.resize(req->length);
  req->status = store_.Read(req->offset, req->data.data(), req->length);
  if (req->done) req->done(*req);
}

uint64_t PrimaryEngine::SubmitLocked(std::shared_ptr<IoRequest> req,
                                     std::vector<std::shared_ptr<IoRequest>>* done) {
  uint64_t seq = ++last_seq_;
  replica_->NoteApplied(seq);
  Pending p;
  p.req = req;
  p.deadline = Clock::now() + opts_.io_timeout;
  if (req->op != IoOp::kFlush && req->length > 0) {
    p.has_regions = true;
    p.first_region = req->offset / manifest_.region_size;
    p.last_region = (req->offset + req->length - 1) / manifest_.region_size;
    if (absl::Status s = activity_->Mark(p.first_region, p.last_region); !s.ok()) {
      spdlog::error("volume {}: activity log: {}", manifest_.volume_id, s.message());
    }
  }
  ReplicateLocked(seq, *req, p.has_regions ? p.first_region : 0, p.last_region);
  // Applied under mu_ so that overlapping writes land in sequence order here
  // exactly as on every replica.
  absl::Status local;
  switch (req->op) {
    case IoOp::kWrite: local = store_.Write(req->offset, req->data.data(), req->length); break;
    case IoOp::kTrim: local = store_.Trim(req->offset, req->length); break;
    case IoOp::kWriteZeroes: local = store_.Zero(req->offset, req->length, req->no_hole); break;
    default: break;
  }
  bool needs_sync = req->op == IoOp::kFlush || req->fua;
  if (!local.ok()) {
    // The replicas may have applied what failed here: have them take this
    // replica's content of those regions at their next resync.
    for (auto& [id, peer] : peers_) {
      if (p.has_regions) (void)peer->bitmap->Mark(p.first_region, p.last_region);
    }
    spdlog::error("volume {}: local {}", manifest_.volume_id, local.message());
    req->status = local;
    done->push_back(req);
    return 0;
  }
  p.local_done = !needs_sync;
  pending_.emplace(seq, std::move(p));
  CompleteIfReadyLocked(seq, done);
  return needs_sync ? seq : 0;
}

void PrimaryEngine::ReplicateLocked(uint64_t seq, const IoRequest& req, uint64_t first_region,
                                    uint64_t last_region) {
  FrameHeader h;
  h.epoch = manifest_.epoch;
  h.seq = seq;
  h.offset = req.offset;
  h.length = req.length;
  const char* payload = nullptr;
  size_t len = 0;
  bool has_regions = req.op != IoOp::kFlush && req.length > 0;
  switch (req.op) {
    case IoOp::kWrite:
      h.type = FrameType::kWrite;
      payload = req.data.data();
      len = req.data.size();
      break;
    case IoOp::kTrim: h.type = FrameType::kTrim; break;
    case IoOp::kWriteZeroes: h.type = FrameType::kWriteZeroes; break;
    case IoOp::kFlush: h.type = FrameType::kFlush; break;
    case IoOp::kRead: return;
  }
  if (req.fua) h.flags |= kFlagFua;
  if (req.no_hole) h.flags |= kFlagNoHole;
  h.payload_len = static_cast<uint32_t>(len);
  h.payload_crc = PayloadCrc(std::string_view(payload ? payload : "", len));
  for (auto& [id, peer] : peers_) {
    bool connected = peer->fd >= 0 &&
                     (peer->state == PeerState::kInSync || peer->state == PeerState::kResyncing);
    if (!connected) {
      if (has_regions) (void)peer->bitmap->Mark(first_region, last_region);
      continue;
    }
    peer->unacked.push_back({seq, first_region, last_region, has_regions});
    if (absl::Status s = SendPreparedLocked(*peer, h, payload, len); !s.ok()) {
      PeerFailedLocked(*peer, std::string(s.message()));
    }
  }
}

void PrimaryEngine::FinishLocalSync(uint64_t seq, absl::Status s) {
  std::vector<std::shared_ptr<IoRequest>> done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = pending_.find(seq);
    if (it != pending_.end()) {
      if (s.ok()) {
        it->second.local_done = true;
        CompleteIfReadyLocked(seq, &done);
      } else {
        it->second.req->status = s;
        done.push_back(it->second.req);
        pending_.erase(it);
      }
    }
  }
  Finish(done);
}

void PrimaryEngine::CompleteIfReadyLocked(uint64_t seq,
                                          std::vector<std::shared_ptr<IoRequest>>* done) {
  auto it = pending_.find(seq);
  if (it == pending_.end() || AcksLocked(it->second) < manifest_.Quorum()) return;
  it->second.req->status = absl::OkStatus();
  done->push_back(std::move(it->second.req));
  pending_.erase(it);
}

int PrimaryEngine::AcksLocked(const Pending& p) const {
  return (p.local_done ? 1 : 0) + std::popcount(p.acked_slots);
}

void PrimaryEngine::CompleteReadyLocked(std::vector<std::shared_ptr<IoRequest>>* done) {
  int quorum = manifest_.Quorum();
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (AcksLocked(it->second) >= quorum) {
      it->second.req->status = absl::OkStatus();
      done->push_back(std::move(it->second.req));
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
}

void PrimaryEngine::MaybeActivateLocked(std::vector<std::shared_ptr<IoRequest>>* resubmit) {
  if (active_ || fenced_) return;
  int accepted = 1;
  for (auto& [id, peer] : peers_) accepted += peer->accepted ? 1 : 0;
  if (accepted < manifest_.Quorum()) return;
  active_ = true;
  spdlog::info("volume {}: {} of {} replicas accept this primary; serving IO", manifest_.volume_id,
               accepted, manifest_.members.size());
  for (auto& [req, deadline] : held_) resubmit->push_back(std::move(req));
  held_.clear();
}

void PrimaryEngine::FenceLocked(absl::Status reason, std::vector<std::shared_ptr<IoRequest>>* done) {
  if (!fenced_) {
    fenced_ = true;
    fence_reason_ = reason;
    spdlog::warn("volume {}: primary stops serving: {}", manifest_.volume_id, reason.message());
  }
  for (auto& [seq, p] : pending_) {
    p.req->status = fence_reason_;
    done->push_back(std::move(p.req));
  }
  pending_.clear();
  for (auto& [req, deadline] : held_) {
    req->status = fence_reason_;
    done->push_back(std::move(req));
  }
  held_.clear();
  for (auto& [id, peer] : peers_) {
    if (peer->fd >= 0) shutdown(peer->fd, SHUT_RDWR);
  }
  cv_.notify_all();
}

void PrimaryEngine::HousekeepingLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  auto next_trim = Clock::now();
  while (!stopping_) {
    cv_.wait_for(lock, std::chrono::milliseconds(100));
    if (stopping_) break;
    std::vector<std::shared_ptr<IoRequest>> done;
    auto now = Clock::now();
    int reachable = 1;
    for (auto& [id, peer] : peers_) reachable += peer->state == PeerState::kInSync ? 1 : 0;
    auto timeout_error = [&] {
      return absl::UnavailableError(absl::StrCat(
          "volume ", manifest_.volume_id, ": no majority acknowledged within ",
          opts_.io_timeout.count(), " ms (", reachable, " of ", manifest_.members.size(),
          " replicas in sync, ", manifest_.Quorum(), " needed)"));
    };
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->second.deadline <= now) {
        it->second.req->status = timeout_error();
        done.push_back(std::move(it->second.req));
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
    while (!held_.empty() && held_.front().second <= now) {
      held_.front().first->status = timeout_error();
      done.push_back(std::move(held_.front().first));
      held_.pop_front();
    }
    if (now >= next_trim) {
      TrimActivityLogLocked();
      next_trim = now + std::chrono::seconds(1);
    }
    if (registry_dirty_) {
      registry_dirty_ = false;
      std::string text = snapshots_.Encode();
      uint64_t version = ++registry_version_;
      lock.unlock();
      WriteSnapshotRegistry(text, version);
      lock.lock();
    }
    if (!done.empty()) {
      spdlog::warn("volume {}: {} request(s) failed: no majority", manifest_.volume_id, done.size());
      lock.unlock();
      Finish(done);
      lock.lock();
    }
  }
}

void PrimaryEngine::TrimActivityLogLocked() {
  if (activity_->count() == 0) return;
  std::set<uint64_t> hot;
  auto add = [&](uint64_t first, uint64_t last) {
    for (uint64_t r = first; r <= last; ++r) hot.insert(r);
  };
  for (auto& [seq, p] : pending_) {
    if (p.has_regions) add(p.first_region, p.last_region);
  }
  for (auto& [id, peer] : peers_) {
    for (auto& f : peer->unacked) {
      if (f.has_regions) add(f.first, f.last);
    }
  }
  for (auto r = activity_->NextSet(0); r; r = activity_->NextSet(*r + 1)) {
    if (!hot.count(*r)) (void)activity_->Clear(*r);
  }
}

std::vector<uint64_t> PrimaryEngine::ActivityRegions() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<uint64_t> out;
  if (!activity_) return out;
  for (auto r = activity_->NextSet(0); r; r = activity_->NextSet(*r + 1)) out.push_back(*r);
  return out;
}

EngineView PrimaryEngine::View() {
  std::lock_guard<std::mutex> lock(mu_);
  EngineView v;
  v.active = active_;
  v.fenced = fenced_;
  v.last_seq = last_seq_;
  v.pending = pending_.size() + held_.size();
  auto now = Clock::now();
  for (auto& [id, peer] : peers_) {
    PeerView pv;
    pv.node_id = id;
    pv.state = peer->state;
    pv.acked_seq = peer->acked_seq;
    pv.unacked = peer->unacked.size();
    pv.dirty_bytes = std::min(peer->bitmap->count() * manifest_.region_size, size_.load());
    pv.message = peer->message;
    if (peer->state == PeerState::kResyncing || peer->resync_total > 0) {
      pv.resync.bytes_total = peer->resync_total;
      pv.resync.bytes_copied = peer->resync_copied;
      pv.resync.full = peer->resync_full;
      double secs = std::chrono::duration<double>(now - peer->resync_start).count();
      if (secs > 0 && peer->state == PeerState::kResyncing) {
        pv.resync.rate_bytes_per_second = peer->resync_copied / secs;
        if (pv.resync.rate_bytes_per_second > 0) {
          pv.resync.eta_seconds =
              (peer->resync_total - std::min(peer->resync_total, peer->resync_copied)) /
              pv.resync.rate_bytes_per_second;
        }
      }
    }
    v.peers.push_back(std::move(pv));
  }
  return v;
}

}  // namespace syncblock::repl
