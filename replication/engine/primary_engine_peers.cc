// The primary engine's side of its peers: members coming and going, the
// hello, what each acknowledgement means, and starting each resync.
#include "absl/strings/str_cat.h"
#include "replication/engine/primary_engine.h"
#include "replication/engine/resyncer.h"
#include "replication/util/logging.h"
#include "replication/util/status_macros.h"
#include "replication/util/wipe.h"

namespace syncblock::repl {

void PrimaryEngine::SyncPeersLocked(std::vector<std::shared_ptr<PeerLink>>* started,
                                    std::vector<std::shared_ptr<PeerLink>>* retired) {
  for (auto it = peers_.begin(); it != peers_.end();) {
    if (!manifest_.FindMember(it->first)) {
      retired->push_back(it->second);
      it = peers_.erase(it);
    } else {
      ++it;
    }
  }
  uint32_t used = 0;
  for (auto& [id, link] : peers_) used |= 1u << link->slot();
  PeerLinkOptions lo;
  lo.connect_timeout = opts_.connect_timeout;
  lo.send_timeout = opts_.send_timeout;
  lo.reconnect_interval = opts_.reconnect_interval;
  lo.max_queue_bytes = opts_.peer_queue_bytes;
  lo.stall_timeout = opts_.peer_stall_timeout;
  lo.clock = clock_;
  lo.tls = opts_.tls;
  for (const auto& m : manifest_.members) {
    if (m.node_id == opts_.node_id) continue;
    if (auto it = peers_.find(m.node_id); it != peers_.end()) {
      it->second->SetMember(m);
      continue;
    }
    uint32_t slot = 0;
    while (used & (1u << slot)) ++slot;
    used |= 1u << slot;
    auto bitmap = DirtyBitmap::Open(store_.BitmapPath("peer-" + m.node_id), manifest_.regions());
    if (!bitmap.ok()) {
      // Without its bitmap the peer cannot be resynced safely: it stays out.
      spdlog::error("volume {}: bitmap of replica {}: {}; it is not replicated to",
                    manifest_.volume_id, m.node_id, bitmap.status().message());
      continue;
    }
    auto link = std::make_shared<PeerLink>(m, slot, *std::move(bitmap), lo,
                                           opts_.dialer ? opts_.dialer : DefaultDialer(),
                                           static_cast<PeerLink::Delegate*>(this));
    peers_.emplace(m.node_id, link);
    started->push_back(link);
  }
  absl::StatusOr<AsyncPolicy> policy = AsyncPolicyFromAttributes(manifest_.attributes);
  if (!policy.ok()) {
    // Checked when the volume was made or changed: this is a manifest written
    // by hand. The defaults bound the lag meanwhile.
    spdlog::error("volume {}: {}; the default lag bounds apply", manifest_.volume_id,
                  policy.status().message());
    policy = AsyncPolicy{};
  }
  auto links = std::make_shared<LinkList>();
  bool any_async = false;
  for (auto& [id, link] : peers_) {
    link->SetAsyncPolicy(*policy);
    links->push_back(link);
    any_async |= link->async();
  }
  has_async_ = any_async;
  MutexLock l(&links_mu_);
  links_ = std::move(links);
}

void PrimaryEngine::ManifestChanged() {
  std::vector<std::shared_ptr<PeerLink>> started, retired;
  std::string hello;
  Completions done;
  {
    MutexLock l(&mu_);
    if (stopping_) return;
    manifest_ = replica_->manifest();
    size_ = manifest_.size_bytes;
    quorum_.SetMembers(manifest_.VotingMembers());
    lease_.SetPeersNeeded(manifest_.Quorum() - 1);
    snapshots_->SetMembers(manifest_);
    SyncPeersLocked(&started, &retired);
    SetPeerSlotsLocked(&done);
    hello = EncodeHello(HelloLocked());
    accepted_.erase(std::remove_if(accepted_.begin(), accepted_.end(),
                                   [&](const std::string& id) { return !peers_.count(id); }),
                    accepted_.end());
  }
  RunCompletions(done);
  for (auto& link : retired) {
    lease_.Forget(link->node_id());
    link->Drop(0, "removed from the volume");
    link->Stop();
  }
  for (auto& link : started) link->Start();
  SendToPeers(FrameType::kManifest, hello);
  UpdateWitness(false);
}

void PrimaryEngine::SendToPeers(FrameType type, const std::string& payload) {
  auto frame = std::make_shared<OutgoingFrame>();
  frame->header.type = type;
  frame->header.epoch = epoch_;
  frame->SetPayload(std::make_shared<const std::string>(payload));
  std::shared_ptr<const LinkList> links = Links();
  sequencer_->Sequence(WriteSequencer::Kind::kControl, 0, 0, [&](uint64_t s) {
    frame->header.seq = s;
    frame->Encode();
    // A peer not connected catches up at its next hello.
    for (const auto& link : *links) link->Enqueue(frame);
  });
}

void PrimaryEngine::SendLease() {
  auto frame = std::make_shared<OutgoingFrame>();
  frame->header.type = FrameType::kLease;
  frame->header.epoch = epoch_;
  frame->SetPayload(std::make_shared<const std::string>());
  std::shared_ptr<const LinkList> links = Links();
  sequencer_->Sequence(WriteSequencer::Kind::kControl, 0, 0, [&](uint64_t s) {
    frame->header.seq = s;
    frame->Encode();
    // Counted from before any peer can have it: its promise starts later.
    lease_.Sent(s, clock_->Now());
    for (const auto& link : *links) link->Enqueue(frame);
  });
}

absl::Status PrimaryEngine::RequestResync(const std::string& node_id, bool full) {
  std::vector<std::shared_ptr<PeerLink>> links;
  {
    MutexLock l(&mu_);
    for (auto& [id, link] : peers_) {
      if (node_id.empty() || id == node_id) links.push_back(link);
    }
    if (links.empty()) {
      return absl::NotFoundError(
          absl::StrCat("volume ", manifest_.volume_id, " has no replica on node '", node_id, "'"));
    }
  }
  for (auto& link : links) {
    if (full) {
      link->SetNeedsFull();
    } else {
      const std::string id = link->node_id();
      RETURN_IF_ERROR(replica_->UpdateManifest([&](Manifest& m) { m.checksum_resync.insert(id); }));
      MutexLock l(&mu_);
      manifest_.checksum_resync.insert(id);
    }
    // The next hello starts the resync.
    link->Drop(0, full ? "full resync requested" : "verify resync requested");
  }
  return absl::OkStatus();
}

HelloRequest PrimaryEngine::HelloLocked() {
  HelloRequest hello;
  hello.volume_id = manifest_.volume_id;
  hello.epoch = manifest_.epoch;
  hello.primary_node_id = opts_.node_id;
  hello.members = manifest_.members;
  hello.size_bytes = manifest_.size_bytes;
  hello.region_size = manifest_.region_size;
  hello.attributes = manifest_.attributes;
  hello.create_if_missing = true;
  hello.snapshots = snapshots_->Names();
  return hello;
}

std::string PrimaryEngine::HelloPayload(const PeerLink& link) {
  HelloRequest hello;
  {
    MutexLock l(&mu_);
    hello = HelloLocked();
  }
  // An encrypted volume's data key goes to a data replica, so that one whose
  // node restarted is unlocked again, and only over TLS: the replica is then
  // the storage node dialled, and nobody else on the network sees the key.
  if (opts_.tls && opts_.data_key && !link.witness()) {
    hello.data_key = opts_.data_key(hello.volume_id);
  }
  std::string payload = EncodeHello(hello);
  WipeString(hello.data_key);
  return payload;
}

void PrimaryEngine::MaybeActivateLocked(std::vector<std::shared_ptr<IoRequest>>* resubmit) {
  if (active_ || fenced_ || !started_) return;
  int accepted = 1;
  for (const auto& id : accepted_) accepted += manifest_.IsAsync(id) ? 0 : 1;
  if (accepted < manifest_.Quorum()) return;
  active_ = true;
  changed_.SignalAll();
  spdlog::info("volume {}: {} of {} replicas accept this primary; serving IO", manifest_.volume_id,
               accepted, manifest_.members.size());
  for (auto& [req, deadline] : held_) resubmit->push_back(std::move(req));
  held_.clear();
}

void PrimaryEngine::Connected(PeerLink& link, const HelloReply& reply, int fd) {
  if (link.witness()) {
    WitnessConnected(link, fd);
    return;
  }
  const std::string id = link.node_id();
  std::shared_ptr<PeerLink> self;
  bool full, checksum;
  {
    MutexLock l(&mu_);
    auto it = peers_.find(id);
    if (stopping_ || fenced_ || it == peers_.end() || it->second.get() != &link) return;
    self = it->second;
    auto expected = manifest_.member_generations.find(id);
    full = link.needs_full() || expected == manifest_.member_generations.end() ||
           expected->second != reply.data_generation;
    checksum = !full && (manifest_.checksum_resync.count(id) > 0 || reply.lost_unsynced);
  }
  for (uint64_t r : reply.dirty_hint) {
    if (absl::Status s = link.MarkDirty(r, r); !s.ok()) {
      spdlog::error("volume {}: replica {}: dirty bitmap: {}; full copy", replica_->id(), id,
                    s.message());
      full = true;
    }
  }
  snapshots_->PeerHolds(id, reply.snapshots);
  uint64_t session = 0;
  sequencer_->Exclusive([&](uint64_t) { session = link.BeginStream(fd); });
  if (session == 0) return;
  spdlog::info("volume {}: replica {} connected ({}), {} regions to resync", replica_->id(), id,
               full ? "full copy" : (checksum ? "verify" : "dirty"), link.DirtyCount());
  std::vector<std::shared_ptr<IoRequest>> resubmit;
  std::thread previous;
  {
    MutexLock l(&mu_);
    if (std::find(accepted_.begin(), accepted_.end(), id) == accepted_.end()) {
      accepted_.push_back(id);
    }
    MaybeActivateLocked(&resubmit);
    previous = std::move(resync_threads_[id]);
    resync_threads_[id] = std::thread(
        [this, self, session, full, checksum] { RunResync(self, session, full, checksum); });
    generations_[id] = reply.data_generation;
  }
  if (previous.joinable()) previous.join();
  // The lease counts from frames the peers acknowledge: renew at once, so that
  // a primary just accepted serves without waiting for the next renewal.
  SendLease();
  for (auto& req : resubmit) Submit(std::move(req));
}

void PrimaryEngine::WitnessConnected(PeerLink& link, int fd) {
  const std::string id = link.node_id();
  {
    MutexLock l(&mu_);
    auto it = peers_.find(id);
    if (stopping_ || fenced_ || it == peers_.end() || it->second.get() != &link) return;
  }
  // Nothing to resync: it is in sync with the stream it takes from now on.
  uint64_t session = 0;
  sequencer_->Exclusive([&](uint64_t last) {
    session = link.BeginStream(fd);
    if (session != 0) {
      link.SetResyncDone(session, last);
      link.MarkInSync(session, last);
    }
  });
  if (session == 0) return;
  spdlog::info("volume {}: witness {} connected", replica_->id(), id);
  std::vector<std::shared_ptr<IoRequest>> resubmit;
  {
    MutexLock l(&mu_);
    if (std::find(accepted_.begin(), accepted_.end(), id) == accepted_.end()) {
      accepted_.push_back(id);
    }
    MaybeActivateLocked(&resubmit);
  }
  // It may be a new witness, or have missed the last record: before any
  // lease it grants can matter, it gets the record again.
  UpdateWitness(/*resend=*/true);
  SendLease();
  for (auto& req : resubmit) Submit(std::move(req));
}

void PrimaryEngine::RunResync(std::shared_ptr<PeerLink> link, uint64_t session, bool full,
                              bool checksum) {
  ResyncContext ctx;
  ctx.store = &store_;
  ctx.sequencer = sequencer_.get();
  ctx.epoch = epoch_;
  {
    MutexLock l(&mu_);
    ctx.region_size = manifest_.region_size;
  }
  ctx.size = [this] { return size_.load(); };
  ctx.rate_bytes_per_second = opts_.resync_rate;
  absl::Status s = Resyncer(ctx, *link, session).Run(full, checksum);
  if (s.ok()) s = snapshots_->CatchUp(*link, session);
  if (!s.ok() && s.code() != absl::StatusCode::kAborted) {
    spdlog::error("volume {}: resync of replica {}: {}", replica_->id(), link->node_id(),
                  s.message());
    link->Drop(session, absl::StrCat("resync: ", s.message()));
  }
}

void PrimaryEngine::Refused(PeerLink& link, const HelloReply& reply) {
  if (reply.status != WireStatus::kStaleEpoch) return;
  Fence(absl::FailedPreconditionError(absl::StrCat("volume ", replica_->id(), ": replica ",
                                                   link.node_id(), " is at epoch ", reply.epoch,
                                                   ", newer than this primary's ", epoch_)));
  if (opts_.on_role_change) opts_.on_role_change(replica_->id(), false);
}

void PrimaryEngine::PeerInSync(PeerLink& link) {
  const std::string id = link.node_id();
  std::string gen;
  bool persist = false;
  {
    MutexLock l(&mu_);
    gen = generations_[id];
    persist = manifest_.member_generations[id] != gen || manifest_.checksum_resync.count(id);
    manifest_.member_generations[id] = gen;
    manifest_.checksum_resync.erase(id);
  }
  if (persist) {
    absl::Status s = replica_->UpdateManifest([&](Manifest& m) {
      m.member_generations[id] = gen;
      m.checksum_resync.erase(id);
    });
    if (!s.ok()) {
      // Without the record the next hello of this peer asks for a full copy:
      // safe, only slow.
      spdlog::error("volume {}: manifest after the resync of {}: {}", replica_->id(), id,
                    s.message());
    }
  }
  spdlog::info("volume {}: replica {} is in sync", replica_->id(), id);
  UpdateWitness(false);
}

void PrimaryEngine::Acked(PeerLink& link, uint64_t session, const OutgoingFrame& sent,
                          const Frame& ack) {
  Completions done;
  auto status = static_cast<WireStatus>(ack.header.status);
  const uint64_t seq = sent.header.seq;
  if (status == WireStatus::kStaleEpoch) {
    Fence(absl::FailedPreconditionError(absl::StrCat("volume ", replica_->id(), ": replica ",
                                                     link.node_id(), " refused epoch ", epoch_,
                                                     ": ", ack.payload)));
    if (opts_.on_role_change) opts_.on_role_change(replica_->id(), false);
    return;
  }
  if (status == WireStatus::kConflict) {
    // The replica took a newer connection of ours: reconnect, refuse nothing.
    link.Drop(session, absl::StrCat("replica: ", ack.payload), absl::OkStatus(), &sent);
    return;
  }
  if (status != WireStatus::kOk) {
    absl::Status refusal = WireStatusToStatus(
        status,
        absl::StrCat("volume ", replica_->id(), ": replica ", link.node_id(), ": ", ack.payload));
    std::vector<uint64_t> lost =
        link.Drop(session, absl::StrCat("replica reported: ", ack.payload), refusal, &sent);
    if (!link.async()) {
      for (uint64_t s : lost) quorum_.PeerRefused(s, link.slot(), refusal, &done);
    }
    RunCompletions(done);
    return;
  }
  switch (sent.header.type) {
    case FrameType::kResyncDone:
      if (link.MarkInSync(session, seq)) {
        if (!link.async()) quorum_.PeerCaughtUp(link.slot(), seq, &done);
        PeerInSync(link);
      }
      break;
    case FrameType::kSnapshot:
    case FrameType::kSnapshotDone:
      snapshots_->Acked(link.node_id(), sent);
      break;
    case FrameType::kLease:
      // An asynchronous replica's promise keeps no primary serving: it does
      // not vote in elections.
      if (!link.async()) lease_.Acked(link.node_id(), seq);
      ReleaseHeld();
      break;
    case FrameType::kWitnessRecord:
      WitnessRecorded(seq);
      break;
    default:
      if (link.state() == PeerState::kInSync && !link.witness() && !link.async()) {
        quorum_.PeerAcked(seq, link.slot(), &done);
      }
      break;
  }
  RunCompletions(done);
}

void PrimaryEngine::Disconnected(PeerLink& link, uint64_t) {
  std::thread resync;
  {
    MutexLock l(&mu_);
    auto it = resync_threads_.find(link.node_id());
    if (it != resync_threads_.end()) resync = std::move(it->second);
  }
  if (resync.joinable()) resync.join();
  // Writes it lacks from now on wait until the witness records it outdated.
  if (!link.witness()) UpdateWitness(false);
}

}  // namespace syncblock::repl
