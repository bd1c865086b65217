// The primary engine's lifecycle, its write path and its housekeeping.
#include "replication/engine/primary_engine.h"

#include "absl/strings/str_cat.h"
#include "replication/util/logging.h"
#include "replication/util/status_macros.h"

namespace syncblock::repl {

PrimaryEngine::PrimaryEngine(Replica* replica, const EngineOptions& opts)
    : replica_(replica),
      opts_(opts),
      store_(replica->store()),
      clock_(opts.clock ? opts.clock : syncblock::Clock::Real()),
      lease_(LeaseOptions{opts.lease_duration, opts.lease_max_drift}, 0),
      write_hold_(clock_, [this](std::shared_ptr<IoRequest> r) { Submit(std::move(r)); }) {}

PrimaryEngine::~PrimaryEngine() { Stop(absl::UnavailableError("engine destroyed")); }

absl::Status PrimaryEngine::Start() {
  Manifest m = replica_->manifest();
  size_ = m.size_bytes;
  epoch_ = m.epoch;
  region_size_ = m.region_size;
  // Sequence numbers only grow, also across restarts of the primary: start
  // past both what was applied and the clock in microseconds, which outruns
  // any write rate this engine reaches.
  uint64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
  sequencer_ = std::make_unique<WriteSequencer>(std::max(replica_->applied_seq(), now_us));
  ASSIGN_OR_RETURN(activity_, ActivityLog::Open(store_.BitmapPath("activity"), m.regions()));
  SnapshotCoordinator::Context sc;
  sc.volume_id = m.volume_id;
  sc.node_id = opts_.node_id;
  sc.epoch = m.epoch;
  sc.store = &store_;
  sc.sequencer = sequencer_.get();
  sc.io_timeout = opts_.io_timeout;
  sc.copy_rate = opts_.resync_rate;
  sc.size = [this] { return size_.load(); };
  sc.links = [this] { return *Links(); };
  snapshots_ = std::make_unique<SnapshotCoordinator>(std::move(sc));

  std::vector<std::shared_ptr<PeerLink>> started, retired;
  std::vector<std::shared_ptr<IoRequest>> none;
  {
    MutexLock l(&mu_);
    manifest_ = m;
    quorum_.SetMembers(m.VotingMembers());
    lease_.SetPeersNeeded(m.Quorum() - 1);
    SyncPeersLocked(&started, &retired);
    Completions none;  // nothing is pending yet
    SetPeerSlotsLocked(&none);
  }
  // Writes in flight when the previous primary run ended may have reached
  // some replicas and not others: every peer resyncs those regions.
  for (uint64_t r : activity_->Regions()) {
    for (const auto& link : started) RETURN_IF_ERROR(link->MarkDirty(r, r));
  }
  RETURN_IF_ERROR(activity_->ClearAll());
  RETURN_IF_ERROR(snapshots_->Load(m));
  {
    MutexLock l(&mu_);
    started_ = true;
    MaybeActivateLocked(&none);
  }
  housekeeping_ = std::thread([this] { HousekeepingLoop(); });
  for (const auto& link : started) link->Start();
  spdlog::info("volume {}: primary at epoch {} with {} member(s), quorum {}", m.volume_id, m.epoch,
               m.members.size(), m.Quorum());
  return absl::OkStatus();
}

void PrimaryEngine::Stop(absl::Status reason) {
  Fence(reason);
  // No write passes the gate any more; those past it finish their local
  // apply (disk IO, bounded) before the caller lets another primary in.
  while (writing_.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::vector<std::shared_ptr<PeerLink>> links;
  {
    MutexLock l(&mu_);
    if (stopping_) return;
    stopping_ = true;
    changed_.SignalAll();
    for (auto& [id, link] : peers_) links.push_back(link);
  }
  // Each link's thread ends its connection, which joins its resync.
  for (auto& link : links) link->Stop();
  if (housekeeping_.joinable()) housekeeping_.join();
  std::vector<std::thread> threads;
  {
    MutexLock l(&mu_);
    for (auto& [id, t] : resync_threads_) threads.push_back(std::move(t));
    resync_threads_.clear();
  }
  for (auto& t : threads) {
    if (t.joinable()) t.join();
  }
  if (snapshots_) snapshots_->SaveIfChanged();
}

void PrimaryEngine::Fence(absl::Status reason) {
  Completions done;
  LinkList links;
  {
    MutexLock l(&mu_);
    if (!fenced_) {
      fenced_ = true;
      fence_reason_ = reason;
      if (started_) {
        spdlog::warn("volume {}: primary stops serving: {}", manifest_.volume_id, reason.message());
      }
    }
    for (auto& [req, deadline] : held_) {
      req->status = fence_reason_;
      done.push_back(std::move(req));
    }
    held_.clear();
    for (auto& [id, link] : peers_) links.push_back(link);
    changed_.SignalAll();
  }
  quorum_.FailAll(reason, &done);
  if (snapshots_) snapshots_->Stop(reason);
  for (auto& link : links) link->Drop(0, "the primary is fenced");
  RunCompletions(done);
  write_hold_.ReleaseAll();  // what it kept fails with the fence reason
}

bool PrimaryEngine::fenced() const {
  MutexLock l(&mu_);
  return fenced_;
}

uint64_t PrimaryEngine::Size() const { return size_.load(); }

std::shared_ptr<const LinkList> PrimaryEngine::Links() const {
  MutexLock l(&links_mu_);
  return links_;
}

void PrimaryEngine::Submit(std::shared_ptr<IoRequest> req) {
  if (write_hold_.Admit(req)) return;  // a group snapshot is being cut
  Completions done;
  bool ranged = req->op != IoOp::kFlush;
  uint64_t size = Size();
  if (ranged && (req->offset > size || req->length > size - req->offset)) {
    req->status = absl::OutOfRangeError(absl::StrCat("request at ", req->offset, "+", req->length,
                                                     " is past the end (", size, ")"));
  } else if (req->op == IoOp::kWrite && req->data.size() != req->length) {
    req->status = absl::InvalidArgumentError("write payload and length differ");
  } else {
    MutexLock l(&mu_);
    if (fenced_) {
      req->status = fence_reason_;
    } else if (!ServingLocked()) {
      held_.emplace_back(std::move(req), clock_->Now() + opts_.io_timeout);
      return;
    } else if (req->op != IoOp::kRead && req->op != IoOp::kFlush) {
      writing_.fetch_add(1);
    }
  }
  if (!req->status.ok()) {
    done.push_back(std::move(req));
    RunCompletions(done);
    return;
  }
  switch (req->op) {
    case IoOp::kRead:
      return Read(std::move(req));
    case IoOp::kFlush:
      return Flush(std::move(req));
    default:
      return Write(std::move(req));
  }
}

void PrimaryEngine::Read(std::shared_ptr<IoRequest> req) {
  // Reads need no place in the stream: a write is acknowledged only once it
  // is applied here.
  req->data.resize(req->length);
  req->status = store_.Read(req->offset, req->data.data(), req->length);
  if (req->done) req->done(*req);
}

uint32_t PrimaryEngine::RefusedSlots(const LinkList& links, absl::Status* refusal) {
  uint32_t refused = 0;
  for (const auto& link : links) {
    if (link->async()) continue;  // counts in no quorum
    absl::Status why = link->refusal();
    if (why.ok()) continue;
    if (refused == 0) *refusal = why;
    refused |= 1u << link->slot();
  }
  return refused;
}

absl::Status PrimaryEngine::ApplyLocally(const FrameHeader& h, const std::string* payload) {
  switch (h.type) {
    case FrameType::kWrite:
      return store_.Write(h.offset, payload->data(), h.length);
    case FrameType::kTrim:
      return store_.Trim(h.offset, h.length);
    case FrameType::kWriteZeroes:
      return store_.Zero(h.offset, h.length, (h.flags & kFlagNoHole) != 0);
    default:
      return absl::OkStatus();
  }
}

void PrimaryEngine::Write(std::shared_ptr<IoRequest> req) {
  Completions done;
  const uint64_t region_size = region_size_;
  auto frame = std::make_shared<OutgoingFrame>();
  FrameHeader& h = frame->header;
  h.epoch = epoch_;
  h.offset = req->offset;
  h.length = req->length;
  if (req->fua) h.flags |= kFlagFua;
  if (req->no_hole) h.flags |= kFlagNoHole;
  h.type = req->op == IoOp::kWrite  ? FrameType::kWrite
           : req->op == IoOp::kTrim ? FrameType::kTrim
                                    : FrameType::kWriteZeroes;
  frame->has_regions = req->length > 0;
  frame->first_region = req->offset / region_size;
  frame->last_region =
      req->length > 0 ? (req->offset + req->length - 1) / region_size : frame->first_region;
  if (has_async_.load(std::memory_order_relaxed)) {
    ThrottleForAsyncReplicas(*Links(), clock_->Now() + opts_.io_timeout);
  }
  if (frame->has_regions) {
    // Before the write can reach any replica: a restart resyncs the region.
    auto hold = activity_->Hold(frame->first_region, frame->last_region);
    if (!hold.ok()) {
      req->status = absl::Status(hold.status().code(),
                                 absl::StrCat("activity log: ", hold.status().message()));
      spdlog::error("volume {}: write at {} fails: {}", replica_->id(), req->offset,
                    req->status.message());
      done.push_back(std::move(req));
      writing_.fetch_sub(1);
      RunCompletions(done);
      return;
    }
    frame->activity = *std::move(hold);
  }
  std::shared_ptr<const std::string> payload;
  if (req->op == IoOp::kWrite) {
    payload = std::make_shared<const std::string>(std::move(req->data));
    req->data.clear();
  }
  frame->SetPayload(payload);
  std::shared_ptr<const LinkList> links = Links();
  absl::Status refusal;
  uint32_t refused = RefusedSlots(*links, &refusal);
  auto deadline = clock_->Now() + opts_.io_timeout;
  const bool fua = req->fua;
  uint64_t seq =
      sequencer_->Sequence(WriteSequencer::Kind::kWrite, req->offset, req->length, [&](uint64_t s) {
        h.seq = s;
        frame->Encode();
        // Registered before any peer can acknowledge it.
        quorum_.Add(s, std::move(req), /*needs_apply=*/true, deadline, refused, refusal, &done);
        for (const auto& link : *links) link->Enqueue(frame);
      });
  replica_->NoteApplied(seq);
  sequencer_->WaitTurn(seq);
  absl::Status local = ApplyLocally(h, payload.get());
  sequencer_->Applied(seq);
  if (!local.ok()) {
    spdlog::error("volume {}: local write at {}+{} failed: {}", replica_->id(), h.offset, h.length,
                  local.message());
    {
      MutexLock l(&mu_);
      local_error_ = absl::StrCat("local ", local.message());
    }
    quorum_.LocalDone(seq, local, &done);
    // The replicas may have applied what failed here: they take this copy's
    // content of the range, so that every replica holds the same bytes.
    RepairPeers(*frame);
  } else {
    quorum_.Applied(seq, &done);
    quorum_.LocalDone(seq, fua ? store_.Sync() : absl::OkStatus(), &done);
  }
  writing_.fetch_sub(1);
  RunCompletions(done);
}

void PrimaryEngine::ThrottleForAsyncReplicas(const LinkList& links, Clock::time_point deadline) {
  for (const auto& link : links) {
    if (!link->async() || link->WaitForLagWithin(deadline)) continue;
    link->Drop(0,
               "behind its lag bounds for longer than the IO timeout although writers were "
               "throttled: pulled ahead; it is caught up from its dirty bitmap");
  }
}

void PrimaryEngine::RepairPeers(const OutgoingFrame& failed) {
  if (!failed.has_regions) return;
  uint64_t offset = failed.header.offset;
  uint64_t length = failed.header.length;
  auto frame = std::make_shared<OutgoingFrame>();
  frame->header.type = FrameType::kResyncData;
  frame->header.epoch = epoch_;
  frame->header.offset = offset;
  frame->header.length = static_cast<uint32_t>(length);
  frame->has_regions = true;
  frame->first_region = failed.first_region;
  frame->last_region = failed.last_region;
  frame->state = OutgoingFrame::kReserved;
  std::shared_ptr<const LinkList> links = Links();
  LinkList to;
  // A peer not streaming gets the range marked in its bitmap by Enqueue.
  uint64_t seq =
      sequencer_->Sequence(WriteSequencer::Kind::kWrite, offset, length, [&](uint64_t s) {
        frame->header.seq = s;
        for (const auto& link : *links) {
          if (link->Enqueue(frame)) to.push_back(link);
        }
      });
  sequencer_->WaitTurn(seq);
  auto data = std::make_shared<std::string>(length, '\0');
  absl::Status s = store_.Read(offset, data->data(), length);
  sequencer_->Applied(seq);
  if (s.ok()) {
    frame->SetPayload(std::move(data));
    frame->Encode();
    frame->state.store(OutgoingFrame::kReady, std::memory_order_release);
  } else {
    frame->state.store(OutgoingFrame::kCancelled, std::memory_order_release);
  }
  for (const auto& link : to) {
    link->Wake();
    // Unreadable here too: the peer resyncs the range from its bitmap.
    if (!s.ok())
      link->Drop(0, absl::StrCat("local copy unreadable: ", s.message()), absl::OkStatus(),
                 frame.get());
  }
}

void PrimaryEngine::Flush(std::shared_ptr<IoRequest> req) {
  Completions done;
  auto frame = std::make_shared<OutgoingFrame>();
  frame->header.type = FrameType::kFlush;
  frame->header.epoch = epoch_;
  frame->SetPayload(nullptr);
  std::shared_ptr<const LinkList> links = Links();
  absl::Status refusal;
  uint32_t refused = RefusedSlots(*links, &refusal);
  auto deadline = clock_->Now() + opts_.io_timeout;
  uint64_t seq = sequencer_->Sequence(WriteSequencer::Kind::kFlush, 0, 0, [&](uint64_t s) {
    frame->header.seq = s;
    frame->Encode();
    quorum_.Add(s, std::move(req), /*needs_apply=*/false, deadline, refused, refusal, &done);
    for (const auto& link : *links) link->Enqueue(frame);
  });
  // The fsync covers every write sequenced before the flush.
  sequencer_->WaitTurn(seq);
  sequencer_->Applied(seq);
  absl::Status s = store_.Sync();
  if (!s.ok()) {
    spdlog::error("volume {}: local flush failed: {}", replica_->id(), s.message());
    MutexLock l(&mu_);
    local_error_ = absl::StrCat("local flush: ", s.message());
  }
  quorum_.LocalDone(seq, s, &done);
  RunCompletions(done);
}

absl::Status PrimaryEngine::WaitActive(absl::Duration timeout) {
  MutexLock l(&mu_);
  auto deadline = absl::Now() + timeout;
  while (!active_ && !fenced_ && !stopping_) {
    if (changed_.WaitWithDeadline(&mu_, deadline)) break;
  }
  if (fenced_) return fence_reason_;
  if (!active_) {
    return absl::UnavailableError(absl::StrCat("volume ", manifest_.volume_id, ": no majority of ",
                                               manifest_.VotingMembers(),
                                               " replicas reachable to accept this primary"));
  }
  return absl::OkStatus();
}

void PrimaryEngine::HousekeepingLoop() {
  auto next_trim = Clock::now();
  // A quarter of the lease: three renewals may be lost before it runs out.
  const auto lease_interval = opts_.lease_duration / 4;
  auto next_lease = clock_->Now();
  while (true) {
    Completions done;
    std::shared_ptr<const LinkList> links = Links();
    bool renew = false;
    {
      MutexLock l(&mu_);
      changed_.WaitWithTimeout(&mu_,
                               absl::Milliseconds(std::min<int64_t>(100, lease_interval.count())));
      if (stopping_) return;
      auto now = clock_->Now();
      while (!held_.empty() && held_.front().second <= now) {
        held_.front().first->status = absl::UnavailableError(
            active_ ? absl::StrCat("volume ", manifest_.volume_id, ": no majority of ",
                                   manifest_.VotingMembers(),
                                   " replicas renewed the lease of "
                                   "this primary within ",
                                   opts_.io_timeout.count(), " ms")
                    : absl::StrCat("volume ", manifest_.volume_id, ": no majority of ",
                                   manifest_.VotingMembers(),
                                   " replicas accepted this primary "
                                   "within ",
                                   opts_.io_timeout.count(), " ms"));
        done.push_back(std::move(held_.front().first));
        held_.pop_front();
      }
      renew = active_ && !fenced_ && now >= next_lease;
      if (renew) next_lease = now + lease_interval;
    }
    if (renew) SendLease();
    ReleaseHeld();
    write_hold_.ReleaseExpired();
    auto now = clock_->Now();
    for (const auto& link : *links) link->CheckStall(now);
    // Peer state changes call it too; this catches any that did not.
    UpdateWitness(false);
    // Worded here, outside the tracker's mutex (a leaf: nothing is called
    // under it).
    int in_sync = 1;
    for (const auto& link : *links) in_sync += link->state() == PeerState::kInSync;
    absl::Status no_majority = absl::UnavailableError(
        absl::StrCat("volume ", replica_->id(), ": no majority acknowledged within ",
                     opts_.io_timeout.count(), " ms (", in_sync, " of ", links->size() + 1,
                     " replicas in sync, ", quorum_.quorum(), " needed)"));
    quorum_.Expire(now, no_majority, &done);
    if (now >= next_trim) {
      // A bit left set only costs a region resynced after a restart.
      if (absl::Status s = activity_->Trim(); !s.ok()) {
        spdlog::error("volume {}: activity log: {}", replica_->id(), s.message());
      }
      next_trim = now + std::chrono::seconds(1);
    }
    snapshots_->SaveIfChanged();
    if (!done.empty()) {
      spdlog::warn("volume {}: {} request(s) failed: {}", replica_->id(), done.size(),
                   done.front()->status.message());
      RunCompletions(done);
    }
  }
}

bool PrimaryEngine::ServingLocked() const { return active_ && lease_.Valid(clock_->Now()); }

void PrimaryEngine::ReleaseHeld() {
  std::deque<std::pair<std::shared_ptr<IoRequest>, Clock::time_point>> go;
  {
    MutexLock l(&mu_);
    if (held_.empty() || fenced_ || !ServingLocked()) return;
    go.swap(held_);
  }
  for (auto& [req, deadline] : go) Submit(std::move(req));
}

std::vector<uint64_t> PrimaryEngine::ActivityRegions() {
  return activity_ ? activity_->Regions() : std::vector<uint64_t>{};
}

EngineView PrimaryEngine::View() {
  EngineView v;
  uint64_t region_size;
  std::vector<std::shared_ptr<PeerLink>> links;
  {
    MutexLock l(&mu_);
    v.active = active_;
    v.fenced = fenced_;
    const auto until = lease_.ValidUntil();
    const auto now = clock_->Now();
    v.lease_remaining_ms =
        until == Clock::time_point::max()
            ? -1
            : (until > now ? std::chrono::ceil<std::chrono::milliseconds>(until - now).count() : 0);
    v.local_error = local_error_;
    v.pending = held_.size();
    region_size = manifest_.region_size;
    for (auto& [id, link] : peers_) links.push_back(link);
  }
  v.pending += quorum_.size();
  v.last_seq = sequencer_ ? sequencer_->last_seq() : 0;
  auto now = Clock::now();
  for (const auto& link : links) {
    PeerLink::View lv = link->GetView();
    PeerView pv;
    pv.node_id = link->node_id();
    pv.witness = link->witness();
    pv.async = link->async();
    pv.state = lv.state;
    pv.acked_seq = lv.acked_seq;
    pv.unacked = lv.unacked;
    pv.queued_bytes = lv.queued_bytes;
    pv.dirty_bytes = std::min(lv.dirty_regions * region_size, size_.load());
    if (pv.async) {
      pv.lag.broken = lv.lag.broken;
      pv.lag.throttled_writes = lv.lag.throttled_writes;
      pv.lag.ms = lv.lag.age.count();
      // Out of sync, what it lacks is what its dirty regions hold.
      pv.lag.bytes = lv.lag.broken ? pv.dirty_bytes : lv.lag.bytes;
      if (lv.lag.broken) {
        pv.lag.broken_since_unix_ms = absl::ToUnixMillis(absl::Now()) - pv.lag.ms;
      }
    }
    pv.message = lv.message;
    if (lv.state == PeerState::kResyncing || lv.resync.total > 0) {
      pv.resync.bytes_total = lv.resync.total;
      pv.resync.bytes_copied = lv.resync.copied;
      pv.resync.full = lv.resync.full;
      double secs = std::chrono::duration<double>(now - lv.resync.start).count();
      if (secs > 0 && lv.state == PeerState::kResyncing) {
        pv.resync.rate_bytes_per_second = lv.resync.copied / secs;
        if (pv.resync.rate_bytes_per_second > 0) {
          pv.resync.eta_seconds = (lv.resync.total - std::min(lv.resync.total, lv.resync.copied)) /
                                  pv.resync.rate_bytes_per_second;
        }
      }
    }
    v.peers.push_back(std::move(pv));
  }
  return v;
}

}  // namespace syncblock::repl
