#include "replication/engine/replica.h"

#include <cstring>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "replication/engine/primary_engine.h"
#include "replication/types/removed_members.h"
#include "replication/util/crc32c.h"
#include "replication/util/logging.h"
#include "replication/util/status_macros.h"
#include "replication/wire/snapshot_record.h"

namespace syncblock::repl {

absl::StatusOr<std::shared_ptr<Replica>> Replica::Create(const std::string& dir, const Manifest& m,
                                                         const EngineOptions& opts) {
  Manifest created = m;
  created.boot_id = (opts.env ? opts.env : Env::Posix())->BootId();
  const bool witness = m.IsWitness(opts.node_id);
  auto store = ReplicaStore::Create(dir, created, opts.env, /*holds_data=*/!witness);
  if (!store.ok()) return store.status();
  auto r = std::shared_ptr<Replica>(new Replica(*std::move(store), created, opts));
  // Replicas created together are identical (all zeros): in sync from the
  // start. A witness has nothing to be in sync with.
  r->consistent_ = !witness;
  return r;
}

absl::StatusOr<std::shared_ptr<Replica>> Replica::Open(const std::string& dir,
                                                       const EngineOptions& opts) {
  Manifest m;
  auto store = ReplicaStore::Open(dir, &m, opts.env);
  if (!store.ok()) return store.status();
  std::string boot = (opts.env ? opts.env : Env::Posix())->BootId();
  bool rebooted = !m.boot_id.empty() && m.boot_id != boot;
  if (m.boot_id != boot) {
    m.boot_id = boot;
    RETURN_IF_ERROR((*store)->SaveManifest(m));
  }
  if (rebooted) {
    spdlog::warn(
        "volume {}: the machine restarted since this replica last ran: writes it never "
        "synced may be lost; {}",
        m.volume_id,
        m.primary_node_id == opts.node_id ? "it was the primary"
                                          : "its primary compares it by checksums");
  }
  auto r = std::shared_ptr<Replica>(new Replica(*std::move(store), m, opts));
  // A restarted secondary may have missed writes while it was away; its primary
  // says when it has caught up. A primary's own data is the reference.
  r->consistent_ = m.primary_node_id == opts.node_id && !r->witness_;
  r->lost_unsynced_ = rebooted && m.primary_node_id != opts.node_id && !r->witness_;
  return r;
}

Replica::Replica(std::unique_ptr<ReplicaStore> store, Manifest m, const EngineOptions& opts)
    : id_(m.volume_id),
      opts_(opts),
      witness_(m.IsWitness(opts.node_id)),
      store_(std::move(store)),
      manifest_(std::move(m)),
      clock_(opts.clock ? opts.clock : Clock::Real()),
      promise_(opts.lease_duration) {
  // Before a restart it may have promised its primary: keep the promise.
  promise_.Heard(clock_->Now());
}

absl::Status Replica::MarkRemoved(const std::map<std::string, std::string>& record,
                                  const std::string& why) {
  spdlog::warn("volume {}: this replica was removed from the volume: {}", id_, why);
  std::lock_guard<std::mutex> apply(apply_mu_);
  absl::Status saved =
      UpdateManifest([&](Manifest& m) { AdoptRemovedRecord(m.attributes, record); });
  // Stopped even when the record could not be saved. A fenced engine would
  // still renew the other removed replicas' promises (they would never look
  // for a primary, nor learn of their removal).
  std::shared_ptr<PrimaryEngine> engine;
  {
    MutexLock l(&mu_);
    engine.swap(engine_);
    ++session_;
  }
  if (engine) {
    Demote(std::move(engine));
    if (opts_.on_role_change) opts_.on_role_change(id_, false);
  }
  return saved;
}

Replica::ReportedLag Replica::LastReportedLag() const {
  MutexLock l(&mu_);
  return {last_lag_, last_lag_unix_ms_};
}

std::chrono::milliseconds Replica::PromiseRemaining() const {
  return promise_.Remaining(clock_->Now());
}

Replica::~Replica() { Shutdown(); }

Manifest Replica::manifest() const {
  MutexLock l(&mu_);
  return manifest_;
}

absl::Status Replica::UpdateManifest(const std::function<void(Manifest&)>& change) {
  MutexLock l(&mu_);
  Manifest next = manifest_;
  change(next);
  if (absl::Status s = store_->SaveManifest(next); !s.ok()) return s;
  manifest_ = std::move(next);
  return absl::OkStatus();
}

std::shared_ptr<PrimaryEngine> Replica::engine() const {
  std::shared_ptr<PrimaryEngine> e;
  {
    MutexLock l(&mu_);
    e = engine_;
  }
  // fenced() takes the engine's mutex, which ranks before ours: asking it
  // while holding mu_ deadlocks against an engine updating the manifest.
  if (e && !e->fenced()) return e;
  return nullptr;
}

bool Replica::IsPrimary() const { return engine() != nullptr; }

bool Replica::consistent() const {
  MutexLock l(&mu_);
  return consistent_;
}

absl::Status Replica::StartRole() {
  // Held until the engine has started: a hello of a newer primary that
  // arrived in between would demote an engine not started yet.
  std::lock_guard<std::mutex> apply(apply_mu_);
  std::shared_ptr<PrimaryEngine> engine;
  {
    MutexLock l(&mu_);
    if (manifest_.primary_node_id != opts_.node_id || !manifest_.primary_confirmed || engine_) {
      return absl::OkStatus();
    }
    if (IsRemovedMember(manifest_.attributes, opts_.node_id)) {
      spdlog::warn(
          "volume {}: not serving: this replica was removed from the volume by a promotion that "
          "accepted data loss (delete it, or add the node again with ctl replica add)",
          id_);
      return absl::OkStatus();
    }
    engine = std::make_shared<PrimaryEngine>(this, opts_);
    engine_ = engine;
    consistent_ = true;
  }
  absl::Status s = engine->Start();
  if (!s.ok()) {
    MutexLock l(&mu_);
    engine_.reset();
    return s;
  }
  if (opts_.on_role_change) opts_.on_role_change(id_, true);
  return absl::OkStatus();
}

void Replica::Shutdown() {
  std::shared_ptr<PrimaryEngine> engine;
  {
    MutexLock l(&mu_);
    engine.swap(engine_);
  }
  if (engine) {
    engine->Stop(absl::UnavailableError(absl::StrCat("volume ", id_, " is shutting down")));
    if (opts_.on_role_change) opts_.on_role_change(id_, false);
  }
  // Whoever still holds this replica, its files are not to change any more:
  // the directory may be removed next.
  store_->StopBackgroundWork();
}

std::vector<uint64_t> Replica::Demote(std::shared_ptr<PrimaryEngine> engine) {
  if (!engine) return {};
  std::vector<uint64_t> regions = engine->ActivityRegions();
  engine->Stop(absl::FailedPreconditionError("this node is no longer the volume's primary"));
  return regions;
}

HelloReply Replica::AcceptHello(const HelloRequest& hello, uint64_t* session) {
  std::lock_guard<std::mutex> apply(apply_mu_);
  HelloReply reply;
  std::shared_ptr<PrimaryEngine> old_engine;
  {
    MutexLock l(&mu_);
    reply.epoch = manifest_.epoch;
    reply.data_generation = manifest_.data_generation;
    reply.applied_seq = applied_seq_.load();
    reply.lost_unsynced = lost_unsynced_;
    // The lineage (removed_members.h): a newer one wins whatever the epochs
    // (the removed side may have elected past the survivor's); a primary of
    // an older one, or one removed from it, is refused at any epoch, so that
    // it fences itself.
    const bool newer_lineage =
        RemovedVersion(hello.attributes) > RemovedVersion(manifest_.attributes);
    const bool removed_here = IsRemovedMember(manifest_.attributes, opts_.node_id);
    if ((!newer_lineage &&
         SpeaksForAnOlderVolume(manifest_.attributes, hello.primary_node_id, hello.attributes)) ||
        (removed_here && (!newer_lineage || IsRemovedMember(hello.attributes, opts_.node_id)))) {
      reply.status = WireStatus::kStaleEpoch;
      reply.message = absl::StrCat(
          "volume ", id_, ": ", hello.primary_node_id,
          " speaks for the volume as it was before a promotion that accepted data loss",
          removed_here ? absl::StrCat(", which removed the replica on ", opts_.node_id) : "");
      return reply;
    }
    if (hello.epoch < manifest_.epoch && !newer_lineage) {
      reply.status = WireStatus::kStaleEpoch;
      reply.message =
          absl::StrCat("volume ", id_, ": epoch ", hello.epoch, " of ", hello.primary_node_id,
                       " is older than this replica's ", manifest_.epoch);
      return reply;
    }
    if (hello.epoch == manifest_.epoch && hello.primary_node_id != manifest_.primary_node_id &&
        !newer_lineage) {
      reply.status = WireStatus::kConflict;
      reply.message = absl::StrCat("volume ", id_, ": epoch ", hello.epoch, " belongs to ",
                                   manifest_.primary_node_id, ", not ", hello.primary_node_id);
      return reply;
    }
    if (hello.primary_node_id == opts_.node_id) {
      reply.status = WireStatus::kConflict;
      reply.message = "a primary cannot replicate to itself";
      return reply;
    }
    if (hello.region_size != manifest_.region_size) {
      reply.status = WireStatus::kInvalid;
      reply.message = absl::StrCat("volume ", id_, ": region size ", hello.region_size,
                                   " differs from this replica's ", manifest_.region_size);
      return reply;
    }
    // Volumes only grow; a hello that is smaller is refused, not applied.
    if (hello.size_bytes < manifest_.size_bytes) {
      reply.status = WireStatus::kInvalid;
      reply.message = absl::StrCat("volume ", id_, ": size ", hello.size_bytes,
                                   " is smaller than this replica's ", manifest_.size_bytes);
      return reply;
    }
    if (hello.size_bytes > manifest_.size_bytes && !witness_) {
      if (absl::Status s = store_->Resize(hello.size_bytes); !s.ok()) {
        reply.status = WireStatus::kIoError;
        reply.message = std::string(s.message());
        return reply;
      }
    }
    Manifest next = manifest_;
    next.epoch = hello.epoch;
    next.primary_node_id = hello.primary_node_id;
    next.primary_confirmed = true;
    next.members = hello.members;
    next.size_bytes = hello.size_bytes;
    next.attributes = hello.attributes;
    next.consistent = false;
    if (absl::Status s = store_->SaveManifest(next); !s.ok()) {
      reply.status = WireStatus::kIoError;
      reply.message = std::string(s.message());
      return reply;
    }
    manifest_ = std::move(next);
    // Behind until this primary's resync ends with kResyncDone.
    consistent_ = false;
    *session = ++session_;
    promise_.Heard(clock_->Now());
    reply.dirty_hint = std::move(demoted_regions_);
    demoted_regions_.clear();
    old_engine.swap(engine_);
    reply.epoch = manifest_.epoch;
  }
  absl::Status reconciled =
      witness_ ? absl::OkStatus() : ReconcileSnapshots(hello, &reply.snapshots);
  if (absl::Status s = reconciled; !s.ok()) {
    spdlog::error("volume {}: snapshots at hello: {}", id_, s.message());
    reply.status = WireStatus::kIoError;
    reply.message = std::string(s.message());
  }
  if (old_engine) {
    spdlog::warn("volume {}: {} is primary at epoch {}; this node steps down", id_,
                 hello.primary_node_id, hello.epoch);
    std::vector<uint64_t> regions = Demote(std::move(old_engine));
    reply.dirty_hint.insert(reply.dirty_hint.end(), regions.begin(), regions.end());
    if (opts_.on_role_change) opts_.on_role_change(id_, false);
  }
  return reply;
}

absl::Status Replica::ReconcileSnapshots(const HelloRequest& hello,
                                         std::vector<std::string>* held) {
  SnapshotChain& chain = store_->snapshots();
  std::set<std::string> listed;
  if (hello.snapshots) listed.insert(hello.snapshots->begin(), hello.snapshots->end());
  for (const SnapshotRecord& r : chain.List()) {
    // Unlisted: deleted while this replica was away. Incomplete: a full copy
    // the previous connection did not finish; the primary starts it again.
    if (!r.complete || (hello.snapshots && !listed.count(r.name))) {
      spdlog::info("volume {}: dropping snapshot {} ({})", id_, r.name,
                   r.complete ? "deleted on the primary" : "incomplete copy");
      RETURN_IF_ERROR(chain.Delete(r.name));
      continue;
    }
    held->push_back(r.name);
  }
  return absl::OkStatus();
}

absl::Status Replica::ApplySnapshot(const FrameHeader& h, std::string_view payload) {
  SnapshotChain& chain = store_->snapshots();
  switch (h.type) {
    case FrameType::kSnapshot: {
      ASSIGN_OR_RETURN(SnapshotRecord rec, DecodeSnapshotRecord(std::string(payload)));
      if (rec.materialized) {
        auto existing = chain.Get(rec.name);
        if (existing.ok() && existing->complete) return absl::OkStatus();
        if (existing.ok()) RETURN_IF_ERROR(chain.Delete(rec.name));
        return chain.CreateMaterialized(rec);
      }
      if (!consistent()) {
        // The primary sends cuts only to replicas that hold every earlier write.
        return absl::FailedPreconditionError(absl::StrCat(
            "snapshot ", rec.name, ": this replica is not in sync, it cannot cut it here"));
      }
      absl::Status s = chain.Create(rec);
      if (s.code() == absl::StatusCode::kAlreadyExists) {
        // The same cut again (its ack was lost) is done; another is a conflict.
        auto existing = chain.Get(rec.name);
        if (existing.ok() && existing->seq == rec.seq) return absl::OkStatus();
      }
      return s;
    }
    case FrameType::kSnapshotData: {
      ASSIGN_OR_RETURN(auto parts, DecodeSnapshotData(payload));
      auto [name, data] = parts;
      if (data.size() != h.length) {
        return absl::InvalidArgumentError("snapshot data: length and payload differ");
      }
      return chain.WriteMaterialized(std::string(name), h.offset, data.data(), data.size());
    }
    case FrameType::kSnapshotDone:
      return chain.CompleteMaterialized(std::string(payload));
    case FrameType::kSnapshotDelete:
      return chain.Delete(std::string(payload));
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected ", FrameTypeName(h.type), " frame"));
  }
}

absl::Status Replica::ApplyData(const FrameHeader& h, std::string_view payload) {
  switch (h.type) {
    case FrameType::kWrite:
    case FrameType::kResyncData: {
      RETURN_IF_ERROR(store_->Write(h.offset, payload.data(), payload.size()));
      if (h.flags & kFlagFua) RETURN_IF_ERROR(store_->Sync());
      return absl::OkStatus();
    }
    case FrameType::kTrim:
    case FrameType::kResyncZero:
      return store_->Trim(h.offset, h.length);
    case FrameType::kWriteZeroes: {
      RETURN_IF_ERROR(store_->Zero(h.offset, h.length, (h.flags & kFlagNoHole) != 0));
      if (h.flags & kFlagFua) RETURN_IF_ERROR(store_->Sync());
      return absl::OkStatus();
    }
    case FrameType::kFlush:
      return store_->Sync();
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected ", FrameTypeName(h.type), " frame"));
  }
}

WireStatus Replica::Apply(uint64_t session, const FrameHeader& h, std::string_view payload,
                          std::string* reply, std::string* error) {
  std::lock_guard<std::mutex> apply(apply_mu_);
  uint64_t size;
  uint64_t region_size;
  {
    MutexLock l(&mu_);
    if (session != 0 && h.epoch == manifest_.epoch && session != session_) {
      // A newer connection holds this epoch (the primary reconnected, and
      // an older hello of it may even be answered after the newer one): this
      // connection is over, its primary is not deposed.
      *error = absl::StrCat("volume ", id_, ": this connection was superseded by a newer one");
      return WireStatus::kConflict;
    }
    if (session == 0 || h.epoch != manifest_.epoch) {
      *error = absl::StrCat("volume ", id_, ": frame of epoch ", h.epoch,
                            " refused, replica is at epoch ", manifest_.epoch);
      return WireStatus::kStaleEpoch;
    }
    size = manifest_.size_bytes;
    region_size = manifest_.region_size;
  }
  promise_.Heard(clock_->Now());
  if (witness_) {
    WireStatus st = ApplyAsWitness(h, payload, error);
    if (st != WireStatus::kOk) return st;
    uint64_t prev = applied_seq_.load();
    while (h.seq > prev && !applied_seq_.compare_exchange_weak(prev, h.seq)) {
    }
    return WireStatus::kOk;
  }
  switch (h.type) {
    case FrameType::kLease:
      if (h.payload_len > 0) {
        auto lag = DecodeLagReport(payload);
        if (!lag.ok()) {
          *error = absl::StrCat("volume ", id_, ": ", lag.status().message());
          return WireStatus::kInvalid;
        }
        MutexLock l(&mu_);
        last_lag_ = *lag;
        last_lag_unix_ms_ = absl::ToUnixMillis(absl::Now());
      }
      break;
    case FrameType::kWrite:
    case FrameType::kResyncData:
    case FrameType::kTrim:
    case FrameType::kResyncZero:
    case FrameType::kWriteZeroes:
      if (h.offset > size || h.length > size - h.offset) {
        *error = absl::StrCat("volume ", id_, ": ", FrameTypeName(h.type), " at ", h.offset, "+",
                              h.length, " is past the end (", size, ")");
        return WireStatus::kInvalid;
      }
      [[fallthrough]];
    case FrameType::kFlush: {
      absl::Status s = ApplyData(h, payload);
      if (!s.ok()) {
        // A hole in what it applied: no source for a promotion until a
        // resync fills it, whatever later frames it applies.
        MutexLock l(&mu_);
        consistent_ = false;
        *error = std::string(s.message());
        return StatusToWireStatus(s);
      }
      break;
    }
    case FrameType::kResyncDone: {
      if (absl::Status s = store_->Sync(); !s.ok()) {
        *error = std::string(s.message());
        return WireStatus::kIoError;
      }
      MutexLock l(&mu_);
      consistent_ = true;
      lost_unsynced_ = false;
      break;
    }
    case FrameType::kManifest: {
      auto update = DecodeHello(std::string(payload));
      if (!update.ok()) {
        *error = std::string(update.status().message());
        return WireStatus::kInvalid;
      }
      MutexLock l(&mu_);
      Manifest next = manifest_;
      next.members = update->members;
      next.attributes = update->attributes;
      if (update->size_bytes > next.size_bytes) {
        if (absl::Status s = store_->Resize(update->size_bytes); !s.ok()) {
          *error = std::string(s.message());
          return WireStatus::kIoError;
        }
        next.size_bytes = update->size_bytes;
      }
      if (absl::Status s = store_->SaveManifest(next); !s.ok()) {
        *error = std::string(s.message());
        return WireStatus::kIoError;
      }
      manifest_ = std::move(next);
      break;
    }
    case FrameType::kSnapshot:
    case FrameType::kSnapshotData:
    case FrameType::kSnapshotDone:
    case FrameType::kSnapshotDelete: {
      absl::Status s = ApplySnapshot(h, payload);
      if (!s.ok()) {
        *error = absl::StrCat("volume ", id_, ": ", FrameTypeName(h.type), ": ", s.message());
        return StatusToWireStatus(s);
      }
      break;
    }
    case FrameType::kChecksumRequest: {
      uint64_t regions = (size + region_size - 1) / region_size;
      uint64_t first = h.offset;
      uint64_t count = h.length;
      if (first > regions || count > regions - first || count > kMaxPayload / 4) {
        *error = "checksum request out of range";
        return WireStatus::kInvalid;
      }
      reply->resize(count * 4);
      for (uint64_t i = 0; i < count; ++i) {
        uint64_t off = (first + i) * region_size;
        auto crc = store_->Checksum(off, std::min(region_size, size - off));
        if (!crc.ok()) {
          *error = std::string(crc.status().message());
          return WireStatus::kIoError;
        }
        uint32_t v = *crc;
        std::memcpy(reply->data() + i * 4, &v, 4);
      }
      break;
    }
    default:
      *error = absl::StrCat("unexpected ", FrameTypeName(h.type), " frame");
      return WireStatus::kInvalid;
  }
  uint64_t prev = applied_seq_.load();
  while (h.seq > prev && !applied_seq_.compare_exchange_weak(prev, h.seq)) {
  }
  return WireStatus::kOk;
}

WireStatus Replica::ApplyAsWitness(const FrameHeader& h, std::string_view payload,
                                   std::string* error) {
  switch (h.type) {
    case FrameType::kLease:
      return WireStatus::kOk;
    case FrameType::kManifest: {
      auto update = DecodeHello(std::string(payload));
      if (!update.ok()) {
        *error = std::string(update.status().message());
        return WireStatus::kInvalid;
      }
      absl::Status s = UpdateManifest([&](Manifest& next) {
        next.members = update->members;
        next.attributes = update->attributes;
        next.size_bytes = std::max(next.size_bytes, update->size_bytes);
      });
      if (!s.ok()) {
        *error = std::string(s.message());
        return WireStatus::kIoError;
      }
      return WireStatus::kOk;
    }
    case FrameType::kWitnessRecord: {
      auto outdated = DecodeOutdated(payload);
      if (!outdated.ok()) {
        *error = std::string(outdated.status().message());
        return WireStatus::kInvalid;
      }
      // Synced before the ack: the primary counts this node for writes the
      // replicas named here lack as soon as it hears the ack.
      absl::Status s = UpdateManifest([&](Manifest& next) { next.outdated = *outdated; });
      if (!s.ok()) {
        *error = std::string(s.message());
        return WireStatus::kIoError;
      }
      return WireStatus::kOk;
    }
    default:
      *error = absl::StrCat("volume ", id_, ": ", FrameTypeName(h.type),
                            " frame refused: this node is the volume's witness and holds no data");
      return WireStatus::kInvalid;
  }
}

absl::StatusOr<AcceptEpochResult> Replica::AcceptEpoch(uint64_t epoch, const std::string& primary,
                                                       const std::vector<MemberInfo>& members,
                                                       const ReleasedPrimary& released) {
  std::lock_guard<std::mutex> apply(apply_mu_);
  AcceptEpochResult result;
  std::shared_ptr<PrimaryEngine> old_engine;
  {
    MutexLock l(&mu_);
    result.previous_epoch = manifest_.epoch;
    result.data_generation = manifest_.data_generation;
    // Before the epoch rules: the removed side's epochs mean nothing here.
    if (IsRemovedMember(manifest_.attributes, primary)) {
      return absl::AbortedError(absl::StrCat(
          "volume ", id_, " on ", opts_.node_id, " (epoch ", manifest_.epoch, ", primary ",
          manifest_.primary_node_id, "): ", primary,
          " was removed from the volume by a promotion that accepted data loss, and its replica "
          "must not serve (epoch ",
          epoch, " refused)"));
    }
    if (IsRemovedMember(manifest_.attributes, opts_.node_id)) {
      return absl::FailedPreconditionError(
          absl::StrCat("volume ", id_, ": the replica on ", opts_.node_id,
                       " was removed from the volume by a promotion that accepted data loss; it "
                       "votes for no one (epoch ",
                       epoch, " for ", primary, " refused)"));
    }
    if (epoch < manifest_.epoch ||
        (epoch == manifest_.epoch && primary != manifest_.primary_node_id)) {
      return absl::FailedPreconditionError(
          absl::StrCat("volume ", id_, " on ", opts_.node_id, " is at epoch ", manifest_.epoch,
                       " with primary ", manifest_.primary_node_id, "; epoch ", epoch, " refused"));
    }
    const std::vector<MemberInfo>& roster = members.empty() ? manifest_.members : members;
    for (const auto& mem : roster) {
      if (mem.node_id == primary && mem.witness) {
        return absl::FailedPreconditionError(
            absl::StrCat("volume ", id_, ": ", primary, " is its witness and holds no data; epoch ",
                         epoch, " refused"));
      }
    }
    if (witness_ && manifest_.outdated.count(primary)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "volume ", id_, ": the witness ", opts_.node_id, " records that ", primary,
          " missed writes acknowledged without it; it cannot be primary before a resync from an "
          "up-to-date replica (epoch ",
          epoch, " refused)"));
    }
    // The lease (failover.md): while this replica promises its primary, that
    // primary may still acknowledge, so no other may be elected. The primary
    // itself is not bound by its replicas' promises: it steps down.
    const std::chrono::milliseconds promised = promise_.Remaining(clock_->Now());
    const bool primary_released = !released.node_id.empty() &&
                                  released.node_id == manifest_.primary_node_id &&
                                  released.epoch == manifest_.epoch;
    if (!engine_ && primary != manifest_.primary_node_id && !primary_released &&
        promised.count() > 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("volume ", id_, " on ", opts_.node_id, " heard its primary ",
                       manifest_.primary_node_id, " less than a lease ago (", promised.count(),
                       " ms of the lease left); epoch ", epoch, " for ", primary, " refused"));
    }
    Manifest next = manifest_;
    next.epoch = epoch;
    next.primary_node_id = primary;
    // A vote, not yet a primary (unless it is the same one again).
    if (epoch != manifest_.epoch || primary != manifest_.primary_node_id) {
      next.primary_confirmed = false;
    }
    if (!members.empty()) next.members = members;
    RETURN_IF_ERROR(store_->SaveManifest(next));
    manifest_ = std::move(next);
    ++session_;  // the old primary's connection may apply nothing more
    old_engine.swap(engine_);
    // Give the new primary a lease's time to say hello before this replica
    // helps elect yet another.
    promise_.Heard(clock_->Now());
  }
  const bool old_engine_was_running = old_engine != nullptr;
  std::vector<uint64_t> regions = Demote(std::move(old_engine));
  if (old_engine_was_running) {
    if (opts_.on_role_change) opts_.on_role_change(id_, false);
  }
  MutexLock l(&mu_);
  demoted_regions_.insert(demoted_regions_.end(), regions.begin(), regions.end());
  // A demoted primary applied every write it sequenced; it is a valid source.
  result.consistent = consistent_ && !witness_;
  result.applied_seq = applied_seq_.load();
  result.witness = witness_;
  result.outdated = manifest_.outdated;
  result.lag = last_lag_;
  result.lag_reported_unix_ms = last_lag_unix_ms_;
  return result;
}

absl::Status Replica::CandidateOfLocked(uint64_t epoch) const {
  if (manifest_.epoch == epoch && manifest_.primary_node_id == opts_.node_id &&
      !manifest_.primary_confirmed) {
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "volume ", id_, ": the promotion of ", opts_.node_id, " at epoch ", epoch,
      " was overtaken (this replica is at epoch ", manifest_.epoch, " with primary ",
      manifest_.primary_node_id, manifest_.primary_confirmed ? "" : ", not confirmed", ")"));
}

absl::Status Replica::WriteAsCandidate(uint64_t epoch, uint64_t offset, std::string_view data) {
  std::lock_guard<std::mutex> apply(apply_mu_);
  {
    MutexLock l(&mu_);
    RETURN_IF_ERROR(CandidateOfLocked(epoch));
  }
  return store_->Write(offset, data.data(), data.size());
}

absl::Status Replica::BecomePrimary(uint64_t epoch, const std::function<void(Manifest&)>& change) {
  {
    std::lock_guard<std::mutex> apply(apply_mu_);
    MutexLock l(&mu_);
    RETURN_IF_ERROR(CandidateOfLocked(epoch));
    Manifest next = manifest_;
    change(next);
    next.epoch = epoch;
    next.primary_node_id = opts_.node_id;
    next.primary_confirmed = true;
    next.consistent = true;
    RETURN_IF_ERROR(store_->SaveManifest(next));
    manifest_ = std::move(next);
    ++session_;
    consistent_ = true;
  }
  // A vote or hello that comes now changes the manifest: StartRole then
  // finds the role gone and starts nothing.
  return StartRole();
}

}  // namespace syncblock::repl
