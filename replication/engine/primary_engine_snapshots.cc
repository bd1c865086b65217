// The primary engine's snapshots and online growth (replication/doc/
// snapshots.md): the snapshot barrier in the write stream, the registry of
// which members hold each snapshot, full copies of missed snapshots to peers
// that return, deletion, and expansion of the volume.
#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "replication/engine/primary_engine.h"
#include "replication/engine/primary_engine_state.h"
#include "replication/store/snapshot_chain.h"
#include "replication/util/logging.h"
#include "replication/util/status_macros.h"
#include "replication/wire/snapshot_record.h"

namespace syncblock::repl {

using Clock = std::chrono::steady_clock;

namespace {

constexpr uint64_t kCopyChunk = 1 << 20;

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

absl::Status PrimaryEngine::LoadSnapshotsLocked() {
  const std::string path = store_.dir() + "/" + kSnapshotRegistryFile;
  auto loaded = SnapshotRegistry::Load(path);
  if (loaded.ok()) {
    snapshots_ = *std::move(loaded);
  } else {
    // Rebuilt below from this node's chain; the peers' holdings come back
    // with their hellos. Not worth refusing to serve the volume for.
    spdlog::error("volume {}: {}; rebuilding the snapshot registry", manifest_.volume_id,
                  loaded.status().message());
    std::remove(path.c_str());
    ASSIGN_OR_RETURN(snapshots_, SnapshotRegistry::Load(path));
  }
  const std::string& self = opts_.node_id;
  // What this node holds is certain; what others hold is trusted only from a
  // registry written at this epoch (by this primary, or by its promotion):
  // an older one may list snapshots deleted while this node was a secondary.
  bool current = snapshots_.epoch() == manifest_.epoch;
  std::set<std::string> local;
  for (const SnapshotRecord& r : store_.snapshots().List()) {
    if (!r.complete) {
      // A full copy this node was receiving as a secondary; nobody finishes it.
      if (absl::Status s = store_.snapshots().Delete(r.name); !s.ok()) {
        spdlog::error("volume {}: unfinished copy of snapshot {}: {}", manifest_.volume_id,
                      r.name, s.message());
      }
      continue;
    }
    local.insert(r.name);
    SnapshotEntry* e = snapshots_.Find(r.name);
    if (!e) {
      SnapshotRecord rec = r;
      rec.materialized = false;
      snapshots_.entries()[r.name] = SnapshotEntry{rec, {}};
      e = snapshots_.Find(r.name);
    }
    e->holders.insert(self);
  }
  auto& entries = snapshots_.entries();
  for (auto it = entries.begin(); it != entries.end();) {
    auto& holders = it->second.holders;
    if (!local.count(it->first)) holders.erase(self);
    for (auto h = holders.begin(); h != holders.end();) {
      h = manifest_.FindMember(*h) ? std::next(h) : holders.erase(h);
    }
    if (holders.empty() || (!current && !local.count(it->first))) {
      it = entries.erase(it);
    } else {
      ++it;
    }
  }
  snapshots_.set_epoch(manifest_.epoch);
  SaveSnapshotsLocked();
  return absl::OkStatus();
}

void PrimaryEngine::SaveSnapshotsLocked(bool later) {
  if (later) {
    registry_dirty_ = true;
    return;
  }
  registry_dirty_ = false;
  WriteSnapshotRegistry(snapshots_.Encode(), ++registry_version_);
}

void PrimaryEngine::WriteSnapshotRegistry(const std::string& text, uint64_t version) {
  std::lock_guard<std::mutex> lock(registry_write_mu_);
  if (version <= registry_written_) return;  // a newer one is on disk already
  // The registry only says which snapshots are ready where: losing an update
  // costs a second copy to a peer, never data, so a failure is logged only.
  if (absl::Status s = SnapshotRegistry::WriteFile(snapshots_.path(), text); !s.ok()) {
    spdlog::error("volume {}: snapshot registry: {}", manifest_.volume_id, s.message());
    return;
  }
  registry_written_ = version;
}

int PrimaryEngine::SnapshotHoldersLocked(const SnapshotEntry& e) const {
  int n = 0;
  for (const auto& m : manifest_.members) n += e.holders.count(m.node_id) ? 1 : 0;
  return n;
}

SnapshotView PrimaryEngine::SnapshotViewLocked(const SnapshotEntry& e) {
  SnapshotView v;
  v.record = e.record;
  v.ready = SnapshotHoldersLocked(e) >= manifest_.Quorum();
  for (const auto& m : manifest_.members) {
    SnapshotMemberView mv;
    mv.node_id = m.node_id;
    if (e.holders.count(m.node_id)) {
      mv.state = SnapshotCopyState::kReady;
    } else if (auto it = peers_.find(m.node_id);
               it != peers_.end() && it->second->snapshot_copying == e.record.name) {
      mv.state = SnapshotCopyState::kCopying;
      mv.bytes_copied = it->second->snapshot_copied;
      mv.bytes_total = it->second->snapshot_total;
    }
    v.members.push_back(std::move(mv));
  }
  return v;
}

absl::StatusOr<SnapshotView> PrimaryEngine::CreateSnapshot(const std::string& name) {
  if (!ValidSnapshotName(name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "snapshot name '", name, "' is invalid: 1-128 of [A-Za-z0-9._-], not starting with '.'"));
  }
  std::unique_lock<std::mutex> lock(mu_);
  if (fenced_) return fence_reason_;
  if (!active_) {
    return absl::UnavailableError(absl::StrCat("volume ", manifest_.volume_id,
                                               ": no majority has accepted this primary yet"));
  }
  if (!snapshots_.Find(name) && snapshots_.entries().size() >= kMaxSnapshotsPerVolume) {
    return absl::ResourceExhaustedError(absl::StrCat("volume ", manifest_.volume_id, " has ",
                                                     kMaxSnapshotsPerVolume,
                                                     " snapshots, the most it may have"));
  }
  if (!snapshots_.Find(name)) {
    auto cut_start = Clock::now();
    // The barrier: under mu_ every write with a lower sequence number has been
    // applied here (SubmitLocked applies under mu_) and none with a higher one.
    SnapshotRecord rec;
    rec.name = name;
    rec.size_bytes = size_.load();
    rec.seq = ++last_seq_;
    rec.created_unix_ms = NowUnixMs();
    replica_->NoteApplied(rec.seq);
    absl::Status s = store_.snapshots().Create(rec);
    auto layer_done = Clock::now();
    if (s.code() == absl::StatusCode::kAlreadyExists) {
      // Cut before, the registry update lost (a crash in between): keep it.
      ASSIGN_OR_RETURN(rec, store_.snapshots().Get(name));
    } else if (!s.ok()) {
      spdlog::error("volume {}: snapshot {}: {}", manifest_.volume_id, name, s.message());
      return s;
    }
    snapshots_.entries()[name] = SnapshotEntry{rec, {opts_.node_id}};
    SaveSnapshotsLocked(/*later=*/true);
    FrameHeader h;
    h.type = FrameType::kSnapshot;
    h.epoch = manifest_.epoch;
    h.seq = rec.seq;
    std::string payload = EncodeSnapshotRecord(rec);
    for (auto& [id, peer] : peers_) {
      // A peer whose resync has sent its end holds every earlier write by the
      // time it reads this frame; others get a full copy when they catch up.
      bool caught_up = peer->state == PeerState::kInSync ||
                       (peer->state == PeerState::kResyncing && peer->resync_done_seq != 0);
      if (peer->fd < 0 || !caught_up) continue;
      peer->unacked.push_back({rec.seq, 0, 0, false});
      peer->snapshot_barriers[rec.seq] = name;
      if (absl::Status ss = SendLocked(*peer, h, payload.data(), payload.size()); !ss.ok()) {
        PeerFailedLocked(*peer, std::string(ss.message()));
      }
    }
    // How long client IO waited for the cut (it holds mu_).
    auto ms = [](Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); };
    spdlog::info("volume {}: snapshot {} cut at seq {} in {:.1f} ms (layer {:.1f} ms)",
                 manifest_.volume_id, name, rec.seq, ms(Clock::now() - cut_start),
                 ms(layer_done - cut_start));
  }
  int quorum = manifest_.Quorum();
  cv_.wait_until(lock, Clock::now() + opts_.io_timeout, [&] {
    const SnapshotEntry* e = snapshots_.Find(name);
    return stopping_ || fenced_ || !e || SnapshotHoldersLocked(*e) >= quorum;
  });
  if (fenced_) return fence_reason_;
  const SnapshotEntry* e = snapshots_.Find(name);
  if (!e) return absl::NotFoundError(absl::StrCat("snapshot ", name, " was deleted meanwhile"));
  SnapshotView v = SnapshotViewLocked(*e);
  if (!v.ready) {
    return absl::UnavailableError(absl::StrCat(
        "volume ", manifest_.volume_id, ": snapshot ", name, " is held by ",
        SnapshotHoldersLocked(*e), " of ", manifest_.members.size(), " replicas, ", quorum,
        " needed; it becomes ready when enough replicas catch up"));
  }
  return v;
}

absl::Status PrimaryEngine::DeleteSnapshot(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  if (fenced_) return fence_reason_;
  if (snapshots_.entries().erase(name)) SaveSnapshotsLocked();
  RETURN_IF_ERROR(store_.snapshots().Delete(name));
  // A peer not connected drops the snapshot at its next hello.
  SendToPeersLocked(FrameType::kSnapshotDelete, name);
  cv_.notify_all();
  return absl::OkStatus();
}

std::vector<SnapshotView> PrimaryEngine::Snapshots() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<SnapshotView> out;
  for (const auto& [name, e] : snapshots_.entries()) out.push_back(SnapshotViewLocked(e));
  return out;
}

absl::StatusOr<SnapshotView> PrimaryEngine::GetSnapshot(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  const SnapshotEntry* e = snapshots_.Find(name);
  if (!e) {
    return absl::NotFoundError(
        absl::StrCat("volume ", manifest_.volume_id, " has no snapshot '", name, "'"));
  }
  return SnapshotViewLocked(*e);
}

void PrimaryEngine::PeerSnapshotsLocked(Peer& peer, const std::vector<std::string>& held) {
  std::set<std::string> has(held.begin(), held.end());
  const std::string& id = peer.member.node_id;
  bool changed = false;
  auto& entries = snapshots_.entries();
  for (auto it = entries.begin(); it != entries.end();) {
    auto& holders = it->second.holders;
    bool was = holders.count(id) > 0;
    bool is = has.count(it->first) > 0;
    if (is != was) {
      changed = true;
      if (is) holders.insert(id);
      else holders.erase(id);
    }
    // Known only from peers that no longer have it: gone everywhere.
    if (holders.empty()) {
      it = entries.erase(it);
      changed = true;
    } else {
      ++it;
    }
  }
  if (changed) {
    SaveSnapshotsLocked(/*later=*/true);
    cv_.notify_all();
  }
}

bool PrimaryEngine::OnSnapshotAckLocked(Peer& peer, const FrameHeader& h) {
  auto acked = static_cast<FrameType>(h.length);
  std::string name;
  if (acked == FrameType::kSnapshot) {
    auto it = peer.snapshot_barriers.find(h.seq);
    // Otherwise the start of a full copy: nothing to record yet.
    if (it == peer.snapshot_barriers.end()) return true;
    name = it->second;
    peer.snapshot_barriers.erase(it);
  } else if (acked == FrameType::kSnapshotDone) {
    if (peer.snapshot_copies_done.empty()) return true;
    name = peer.snapshot_copies_done.front();
    peer.snapshot_copies_done.pop_front();
  } else {
    return acked == FrameType::kSnapshotData || acked == FrameType::kSnapshotDelete;
  }
  if (SnapshotEntry* e = snapshots_.Find(name)) {
    e->holders.insert(peer.member.node_id);
    SaveSnapshotsLocked(/*later=*/true);
    spdlog::info("volume {}: replica {} holds snapshot {}", manifest_.volume_id,
                 peer.member.node_id, name);
  }
  cv_.notify_all();
  return true;
}

void PrimaryEngine::CopySnapshotsLocked(Peer* peer, uint64_t link_id,
                                        std::unique_lock<std::mutex>& lock) {
  auto live = [&] { return !stopping_ && !fenced_ && peer->link_id == link_id; };
  const std::string& id = peer->member.node_id;
  std::set<std::string> tried;
  while (live()) {
    std::optional<SnapshotRecord> next;
    for (const auto& [name, e] : snapshots_.entries()) {
      // Snapshots this node lacks (known from peers after a promotion) are
      // not copied from here (snapshots.md, "Promotion").
      if (tried.count(name) || e.holders.count(id) || !e.holders.count(opts_.node_id)) continue;
      bool cut_there = false;
      for (const auto& [seq, n] : peer->snapshot_barriers) cut_there |= n == name;
      if (cut_there) continue;
      next = e.record;
      break;
    }
    if (!next) return;
    tried.insert(next->name);
    absl::Status s = CopySnapshotLocked(peer, link_id, *next, lock);
    peer->snapshot_copying.clear();
    if (!s.ok()) {
      if (live()) PeerFailedLocked(*peer, absl::StrCat("snapshot copy: ", s.message()));
      return;
    }
  }
}

absl::Status PrimaryEngine::CopySnapshotLocked(Peer* peer, uint64_t link_id,
                                               const SnapshotRecord& record,
                                               std::unique_lock<std::mutex>& lock) {
  auto live = [&] { return !stopping_ && !fenced_ && peer->link_id == link_id; };
  const std::string& name = record.name;
  SnapshotRecord rec = record;
  rec.materialized = true;
  rec.complete = false;
  peer->snapshot_copying = name;
  peer->snapshot_copied = 0;
  peer->snapshot_total = rec.size_bytes;
  spdlog::info("volume {}: copying snapshot {} ({} bytes) to replica {}", manifest_.volume_id,
               name, rec.size_bytes, peer->member.node_id);
  auto send = [&](FrameType type, uint64_t offset, uint32_t length,
                  const std::string& payload) -> absl::Status {
    FrameHeader h;
    h.type = type;
    h.epoch = manifest_.epoch;
    h.seq = last_seq_;
    h.offset = offset;
    h.length = length;
    peer->unacked.push_back({last_seq_, 0, 0, false});
    return SendLocked(*peer, h, payload.data(), payload.size());
  };
  RETURN_IF_ERROR(send(FrameType::kSnapshot, 0, 0, EncodeSnapshotRecord(rec)));
  auto start = Clock::now();
  uint64_t data_sent = 0;
  std::string buf;
  for (uint64_t off = 0; off < rec.size_bytes; off += kCopyChunk) {
    uint64_t len = std::min(kCopyChunk, rec.size_bytes - off);
    // Read outside mu_: client IO goes on meanwhile.
    lock.unlock();
    bool hole = store_.snapshots().IsHole(name, off, len);
    absl::Status rs;
    if (!hole) {
      buf.resize(len);
      rs = store_.snapshots().Read(name, off, buf.data(), len);
    }
    lock.lock();
    if (!live()) return absl::AbortedError("connection lost");
    // Deleted meanwhile: the replica got (or gets at hello) the deletion.
    if (!snapshots_.Find(name)) return absl::OkStatus();
    RETURN_IF_ERROR(rs);
    // A new copy starts empty: holes need no frame.
    if (!hole) {
      RETURN_IF_ERROR(send(FrameType::kSnapshotData, off, static_cast<uint32_t>(len),
                           EncodeSnapshotData(name, buf)));
      data_sent += len;
    }
    peer->snapshot_copied = off + len;
    if (opts_.resync_rate > 0) {
      auto due = start + std::chrono::microseconds(static_cast<uint64_t>(
                             data_sent * 1e6 / static_cast<double>(opts_.resync_rate)));
      if (due > Clock::now()) cv_.wait_until(lock, due, [&] { return !live(); });
      if (!live()) return absl::AbortedError("connection lost");
      if (!snapshots_.Find(name)) return absl::OkStatus();
    }
  }
  peer->snapshot_copies_done.push_back(name);
  return send(FrameType::kSnapshotDone, 0, 0, name);
}

absl::Status PrimaryEngine::Expand(uint64_t size_bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  if (fenced_) return fence_reason_;
  uint64_t current = size_.load();
  if (size_bytes < current) {
    return absl::InvalidArgumentError(absl::StrCat("volume ", manifest_.volume_id, " is ", current,
                                                   " bytes; it cannot shrink to ", size_bytes));
  }
  if (size_bytes == current) return absl::OkStatus();
  // Bitmaps first: reopening extends each file (every mark is already in it),
  // and a failure here leaves the volume as it was.
  Manifest grown = manifest_;
  grown.size_bytes = size_bytes;
  ASSIGN_OR_RETURN(auto activity, DirtyBitmap::Open(store_.BitmapPath("activity"), grown.regions()));
  std::map<std::string, std::unique_ptr<DirtyBitmap>> bitmaps;
  for (auto& [id, peer] : peers_) {
    ASSIGN_OR_RETURN(bitmaps[id], DirtyBitmap::Open(store_.BitmapPath("peer-" + id), grown.regions()));
  }
  RETURN_IF_ERROR(store_.Resize(size_bytes));
  RETURN_IF_ERROR(replica_->UpdateManifest([&](Manifest& m) { m.size_bytes = size_bytes; }));
  manifest_.size_bytes = size_bytes;
  activity_ = std::move(activity);
  for (auto& [id, peer] : peers_) peer->bitmap = std::move(bitmaps[id]);
  size_ = size_bytes;
  // In the stream ahead of any write past the old end: those are sequenced
  // under mu_ after this.
  // A peer not connected grows at its next hello.
  SendToPeersLocked(FrameType::kManifest, HelloPayloadLocked());
  spdlog::info("volume {}: grown from {} to {} bytes", manifest_.volume_id, current, size_bytes);
  return absl::OkStatus();
}

}  // namespace syncblock::repl
