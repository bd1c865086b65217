#include "replication/engine/snapshot_coordinator.h"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
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

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

}  // namespace

absl::Status SnapshotCoordinator::Load(const Manifest& m) {
  const std::string path = ctx_.store->dir() + "/" + kSnapshotRegistryFile;
  absl::StatusOr<SnapshotRegistry> loaded = SnapshotRegistry::Load(path);
  if (!loaded.ok()) {
    // Rebuilt below from this node's chain; the peers' holdings come back
    // with their hellos. Not worth refusing to serve the volume for.
    spdlog::error("volume {}: {}; rebuilding the snapshot registry", ctx_.volume_id,
                  loaded.status().message());
    std::remove(path.c_str());
    loaded = SnapshotRegistry::Load(path);
    if (!loaded.ok()) return loaded.status();
  }
  std::pair<std::string, uint64_t> text;
  {
    MutexLock l(&mu_);
    registry_ = *std::move(loaded);
    manifest_ = m;
    const std::string& self = ctx_.node_id;
    // What this node holds is certain; what others hold is trusted only from
    // a registry written at this epoch (by this primary, or by its
    // promotion): an older one may list snapshots deleted while this node was
    // a secondary.
    bool current = registry_.epoch() == m.epoch;
    std::set<std::string> local;
    for (const SnapshotRecord& r : ctx_.store->snapshots().List()) {
      if (!r.complete) {
        // A full copy this node was receiving as a secondary; nobody finishes it.
        if (absl::Status s = ctx_.store->snapshots().Delete(r.name); !s.ok()) {
          spdlog::error("volume {}: unfinished copy of snapshot {}: {}", ctx_.volume_id, r.name,
                        s.message());
        }
        continue;
      }
      local.insert(r.name);
      SnapshotEntry* e = registry_.Find(r.name);
      if (!e) {
        SnapshotRecord rec = r;
        rec.materialized = false;
        registry_.entries()[r.name] = SnapshotEntry{rec, {}};
        e = registry_.Find(r.name);
      }
      e->holders.insert(self);
    }
    auto& entries = registry_.entries();
    for (auto it = entries.begin(); it != entries.end();) {
      auto& holders = it->second.holders;
      if (!local.count(it->first)) holders.erase(self);
      for (auto h = holders.begin(); h != holders.end();) {
        h = m.FindMember(*h) ? std::next(h) : holders.erase(h);
      }
      if (holders.empty() || (!current && !local.count(it->first))) {
        it = entries.erase(it);
      } else {
        ++it;
      }
    }
    registry_.set_epoch(m.epoch);
    text = EncodeLocked();
  }
  Write(text.first, text.second);
  return absl::OkStatus();
}

void SnapshotCoordinator::SetMembers(const Manifest& m) {
  MutexLock l(&mu_);
  manifest_ = m;
  changed_.SignalAll();
}

void SnapshotCoordinator::Stop(const absl::Status& why) {
  MutexLock l(&mu_);
  stopped_ = why;
  changed_.SignalAll();
}

std::pair<std::string, uint64_t> SnapshotCoordinator::EncodeLocked() {
  dirty_ = false;
  return {registry_.Encode(), ++version_};
}

void SnapshotCoordinator::Write(const std::string& text, uint64_t version) {
  MutexLock l(&write_mu_);
  if (version <= written_) return;  // a newer one is on disk already
  // The registry only says which snapshots are ready where: losing an update
  // costs a second copy to a peer, never data, so a failure is logged only.
  const std::string path = ctx_.store->dir() + "/" + kSnapshotRegistryFile;
  if (absl::Status s = SnapshotRegistry::WriteFile(path, text); !s.ok()) {
    spdlog::error("volume {}: snapshot registry: {}", ctx_.volume_id, s.message());
    return;
  }
  written_ = version;
}

void SnapshotCoordinator::SaveIfChanged() {
  std::pair<std::string, uint64_t> text;
  {
    MutexLock l(&mu_);
    if (!dirty_) return;
    text = EncodeLocked();
  }
  Write(text.first, text.second);
}

int SnapshotCoordinator::HoldersLocked(const SnapshotEntry& e) const {
  int n = 0;
  // An asynchronous replica's copy counts in no quorum (it may be behind).
  for (const auto& m : manifest_.members) n += !m.async && e.holders.count(m.node_id) ? 1 : 0;
  return n;
}

SnapshotView SnapshotCoordinator::ViewLocked(const SnapshotEntry& e) const {
  SnapshotView v;
  v.record = e.record;
  v.ready = HoldersLocked(e) >= manifest_.Quorum();
  for (const auto& m : manifest_.members) {
    if (m.witness) continue;  // it holds no snapshot, and never will
    SnapshotMemberView mv;
    mv.node_id = m.node_id;
    if (e.holders.count(m.node_id)) {
      mv.state = SnapshotCopyState::kReady;
    } else if (auto it = copying_.find(m.node_id);
               it != copying_.end() && it->second.name == e.record.name) {
      mv.state = SnapshotCopyState::kCopying;
      mv.bytes_copied = it->second.copied;
      mv.bytes_total = it->second.total;
    }
    v.members.push_back(std::move(mv));
  }
  return v;
}

absl::Status SnapshotCoordinator::CutLocally(const std::string& name, uint64_t seq,
                                             SnapshotRecord* rec) {
  rec->name = name;
  rec->size_bytes = ctx_.size();
  rec->seq = seq;
  rec->created_unix_ms = NowUnixMs();
  absl::Status s = ctx_.store->snapshots().Create(*rec);
  if (s.code() == absl::StatusCode::kAlreadyExists) {
    // Cut before, the registry update lost (a crash in between): keep it.
    ASSIGN_OR_RETURN(*rec, ctx_.store->snapshots().Get(name));
    return absl::OkStatus();
  }
  return s;
}

absl::StatusOr<SnapshotView> SnapshotCoordinator::Create(const std::string& name) {
  if (!ValidSnapshotName(name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "snapshot name '", name, "' is invalid: 1-128 of [A-Za-z0-9._-], not starting with '.'"));
  }
  bool exists;
  {
    MutexLock l(&mu_);
    RETURN_IF_ERROR(stopped_);
    exists = registry_.Find(name) != nullptr;
    if (!exists && registry_.entries().size() >= kMaxSnapshotsPerVolume) {
      return absl::ResourceExhaustedError(absl::StrCat("volume ", ctx_.volume_id, " has ",
                                                       kMaxSnapshotsPerVolume,
                                                       " snapshots, the most it may have"));
    }
  }
  if (!exists) {
    auto start = Clock::now();
    auto frame = std::make_shared<OutgoingFrame>();
    frame->header.type = FrameType::kSnapshot;
    frame->header.epoch = ctx_.epoch;
    frame->snapshot = name;
    frame->state = OutgoingFrame::kReserved;
    LinkList to;
    LinkList links = ctx_.links();
    uint64_t seq = ctx_.sequencer->Sequence(WriteSequencer::Kind::kBarrier, 0, 0, [&](uint64_t s) {
      frame->header.seq = s;
      // A peer whose resync end is queued holds every earlier write by the
      // time it reads this frame; others get a full copy when they catch up.
      for (const auto& link : links) {
        if (link->CaughtUp() && link->Enqueue(frame)) to.push_back(link);
      }
    });
    ctx_.sequencer->WaitTurn(seq);
    auto turn = Clock::now();
    SnapshotRecord rec;
    absl::Status cut = CutLocally(name, seq, &rec);
    ctx_.sequencer->Applied(seq);
    if (cut.ok()) {
      frame->SetPayload(std::make_shared<std::string>(EncodeSnapshotRecord(rec)));
      frame->Encode();
      frame->state.store(OutgoingFrame::kReady, std::memory_order_release);
    } else {
      frame->state.store(OutgoingFrame::kCancelled, std::memory_order_release);
    }
    for (const auto& link : to) link->Wake();
    if (!cut.ok()) {
      spdlog::error("volume {}: snapshot {}: {}", ctx_.volume_id, name, cut.message());
      return cut;
    }
    {
      MutexLock l(&mu_);
      registry_.entries()[name] = SnapshotEntry{rec, {ctx_.node_id}};
      dirty_ = true;
    }
    // How long writes were held: from the barrier's turn to its release.
    spdlog::info("volume {}: snapshot {} cut at seq {} in {:.1f} ms (writes held {:.1f} ms)",
                 ctx_.volume_id, name, seq, Ms(Clock::now() - start), Ms(Clock::now() - turn));
  }
  MutexLock l(&mu_);
  auto deadline = absl::Now() + absl::FromChrono(ctx_.io_timeout);
  while (stopped_.ok()) {
    const SnapshotEntry* e = registry_.Find(name);
    if (!e || HoldersLocked(*e) >= manifest_.Quorum()) break;
    if (changed_.WaitWithDeadline(&mu_, deadline)) break;
  }
  RETURN_IF_ERROR(stopped_);
  const SnapshotEntry* e = registry_.Find(name);
  if (!e) return absl::NotFoundError(absl::StrCat("snapshot ", name, " was deleted meanwhile"));
  SnapshotView v = ViewLocked(*e);
  if (!v.ready) {
    return absl::UnavailableError(absl::StrCat(
        "volume ", ctx_.volume_id, ": snapshot ", name, " is held by ", HoldersLocked(*e), " of ",
        manifest_.members.size(), " replicas, ", manifest_.Quorum(),
        " needed; it becomes ready when enough replicas catch up"));
  }
  return v;
}

bool SnapshotCoordinator::SendTo(PeerLink& link, uint64_t session, FrameType type, uint64_t offset,
                                 uint32_t length, std::string payload,
                                 const std::string& snapshot) {
  auto frame = std::make_shared<OutgoingFrame>();
  frame->header.type = type;
  frame->header.epoch = ctx_.epoch;
  frame->header.offset = offset;
  frame->header.length = length;
  frame->snapshot = snapshot;
  frame->SetPayload(std::make_shared<std::string>(std::move(payload)));
  bool queued = false;
  ctx_.sequencer->Sequence(WriteSequencer::Kind::kControl, 0, 0, [&](uint64_t s) {
    frame->header.seq = s;
    frame->Encode();
    queued = link.streaming(session) && link.Enqueue(frame);
  });
  return queued;
}

absl::Status SnapshotCoordinator::Delete(const std::string& name) {
  std::pair<std::string, uint64_t> text;
  {
    MutexLock l(&mu_);
    RETURN_IF_ERROR(stopped_);
    bool erased = registry_.entries().erase(name) > 0;
    changed_.SignalAll();
    if (erased) text = EncodeLocked();
  }
  // Written now: a deletion is what a crash may not lose.
  if (text.second != 0) Write(text.first, text.second);
  RETURN_IF_ERROR(ctx_.store->snapshots().Delete(name));
  // A peer not connected drops the snapshot at its next hello.
  for (const auto& link : ctx_.links()) {
    uint64_t session = link->session();
    SendTo(*link, session, FrameType::kSnapshotDelete, 0, 0, name, name);
  }
  return absl::OkStatus();
}

std::vector<SnapshotView> SnapshotCoordinator::List() {
  MutexLock l(&mu_);
  std::vector<SnapshotView> out;
  for (const auto& [name, e] : registry_.entries()) out.push_back(ViewLocked(e));
  return out;
}

absl::StatusOr<SnapshotView> SnapshotCoordinator::Get(const std::string& name) {
  MutexLock l(&mu_);
  const SnapshotEntry* e = registry_.Find(name);
  if (!e) {
    return absl::NotFoundError(
        absl::StrCat("volume ", ctx_.volume_id, " has no snapshot '", name, "'"));
  }
  return ViewLocked(*e);
}

std::vector<std::string> SnapshotCoordinator::Names() {
  MutexLock l(&mu_);
  return registry_.Names();
}

void SnapshotCoordinator::PeerHolds(const std::string& id, const std::vector<std::string>& held) {
  std::set<std::string> has(held.begin(), held.end());
  MutexLock l(&mu_);
  auto& entries = registry_.entries();
  for (auto it = entries.begin(); it != entries.end();) {
    auto& holders = it->second.holders;
    bool was = holders.count(id) > 0;
    bool is = has.count(it->first) > 0;
    if (is != was) {
      dirty_ = true;
      if (is)
        holders.insert(id);
      else
        holders.erase(id);
    }
    // Known only from peers that no longer have it: gone everywhere.
    if (holders.empty()) {
      it = entries.erase(it);
      dirty_ = true;
    } else {
      ++it;
    }
  }
  changed_.SignalAll();
}

void SnapshotCoordinator::Acked(const std::string& node_id, const OutgoingFrame& sent) {
  auto type = sent.header.type;
  bool holds = false;
  if (type == FrameType::kSnapshot) {
    // A cut; the start of a full copy records nothing yet.
    auto rec = DecodeSnapshotRecord(sent.payload ? *sent.payload : std::string());
    holds = rec.ok() && !rec->materialized;
  } else if (type == FrameType::kSnapshotDone) {
    holds = true;
  }
  if (!holds) return;
  MutexLock l(&mu_);
  if (SnapshotEntry* e = registry_.Find(sent.snapshot)) {
    e->holders.insert(node_id);
    dirty_ = true;
    spdlog::info("volume {}: replica {} holds snapshot {}", ctx_.volume_id, node_id, sent.snapshot);
  }
  changed_.SignalAll();
}

absl::Status SnapshotCoordinator::CatchUp(PeerLink& link, uint64_t session) {
  const std::string& id = link.node_id();
  std::set<std::string> tried;
  const uint64_t done_seq = link.resync_done_seq();
  while (link.streaming(session)) {
    std::optional<SnapshotRecord> next;
    {
      MutexLock l(&mu_);
      for (const auto& [name, e] : registry_.entries()) {
        // Snapshots this node lacks (known from peers after a promotion) are
        // not copied from here (snapshots.md, "Promotion"). One whose cut is
        // on its way to the peer needs no copy either: it is newer than the
        // peer's resync end and the peer cuts it itself.
        if (tried.count(name) || e.holders.count(id) || !e.holders.count(ctx_.node_id)) continue;
        if (e.record.seq > done_seq) continue;
        next = e.record;
        break;
      }
    }
    if (!next) return absl::OkStatus();
    tried.insert(next->name);
    absl::Status s = Copy(link, session, *next);
    {
      MutexLock l(&mu_);
      copying_.erase(id);
    }
    RETURN_IF_ERROR(s);
  }
  return absl::AbortedError("connection lost");
}

absl::Status SnapshotCoordinator::Copy(PeerLink& link, uint64_t session,
                                       const SnapshotRecord& record) {
  const std::string& name = record.name;
  SnapshotRecord rec = record;
  rec.materialized = true;
  rec.complete = false;
  {
    MutexLock l(&mu_);
    copying_[link.node_id()] = Copying{name, 0, rec.size_bytes};
  }
  spdlog::info("volume {}: copying snapshot {} ({} bytes) to replica {}", ctx_.volume_id, name,
               rec.size_bytes, link.node_id());
  auto lost = [] { return absl::AbortedError("connection lost"); };
  if (!SendTo(link, session, FrameType::kSnapshot, 0, 0, EncodeSnapshotRecord(rec), name)) {
    return lost();
  }
  auto start = Clock::now();
  uint64_t data_sent = 0;
  for (uint64_t off = 0; off < rec.size_bytes; off += kCopyChunk) {
    uint64_t len = std::min(kCopyChunk, rec.size_bytes - off);
    {
      MutexLock l(&mu_);
      // Deleted meanwhile: the replica got (or gets at hello) the deletion.
      if (!registry_.Find(name)) return absl::OkStatus();
    }
    if (!link.WaitForRoom(session)) return lost();
    // A new copy starts empty: holes need no frame.
    if (!ctx_.store->snapshots().IsHole(name, off, len)) {
      std::string buf(len, '\0');
      RETURN_IF_ERROR(ctx_.store->snapshots().Read(name, off, buf.data(), len));
      if (!SendTo(link, session, FrameType::kSnapshotData, off, static_cast<uint32_t>(len),
                  EncodeSnapshotData(name, buf), name)) {
        return lost();
      }
      data_sent += len;
    }
    {
      MutexLock l(&mu_);
      copying_[link.node_id()].copied = off + len;
    }
    if (ctx_.copy_rate > 0) {
      auto due = start +
                 std::chrono::microseconds(static_cast<uint64_t>(data_sent * 1e6 / ctx_.copy_rate));
      if (!link.SleepUntil(session, due)) return lost();
    }
  }
  if (!SendTo(link, session, FrameType::kSnapshotDone, 0, 0, name, name)) return lost();
  return absl::OkStatus();
}

}  // namespace syncblock::repl
