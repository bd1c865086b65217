#include "replication/remote/remote_sync_cycle.h"

#include <algorithm>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "replication/client/node_client.h"
#include "replication/remote/nbd_chunk_sink.h"
#include "replication/util/logging.h"
#include "replication/util/status_macros.h"

namespace syncblock::repl {
namespace {

struct Target {
  VolumeView volume;
  bool fresh = false;  // created by this cycle: nothing to overwrite
};

std::string TargetName(const RemoteSyncEnv& env, const RemoteSyncPolicy& p) {
  return absl::StrCat("volume ", p.target, " on remote ", env.remote_name);
}

// Writes `set` / `remove` on the source volume, and the lease renewed (or,
// `release`, given up), only while this process still holds the lease and
// the declaration still carries this pairing: ABORTED once another
// controller took the lease over or the sync was declared anew, so that a
// cycle never writes over what came after it.
absl::StatusOr<VolumeView> UnderLease(const RemoteSyncEnv& env, const std::string& volume_id,
                                      const std::string& pairing,
                                      std::map<std::string, std::string> set, bool release) {
  std::vector<std::string> remove;
  std::string next;
  // Released as an expired lease of nobody's with the time in it, not
  // removed: a take that read the lease before someone else's whole cycle
  // cannot then succeed on a stale read.
  next = release ? EncodeRemoteLease({kNoLeaseOwner, env.now_unix_ms()})
                 : EncodeRemoteLease({env.owner, env.now_unix_ms() + env.lease_ttl.count()});
  set[kAttrRemoteLease] = next;
  auto v = env.source->SetAttributesIf(
      volume_id, {{kAttrRemoteLease, *env.lease}, {kAttrRemotePairing, pairing}}, set, remove);
  if (v.ok()) {
    *env.lease = next;
    return v;
  }
  if (v.status().code() == absl::StatusCode::kAborted) {
    return absl::AbortedError(absl::StrCat("another controller runs the sync of ", volume_id,
                                           " now, or it was declared anew"));
  }
  // The change may have been made with its answer lost: the lease says.
  auto now = env.source->GetVolume(volume_id);
  if (now.ok()) {
    auto held = now->attributes.find(kAttrRemoteLease);
    const std::string value = held == now->attributes.end() ? "" : held->second;
    if (value == next) {
      *env.lease = next;
      return now;
    }
  }
  return v;
}

absl::Status Renew(const RemoteSyncEnv& env, const std::string& volume_id,
                   const std::string& pairing) {
  return UnderLease(env, volume_id, pairing, {}, false).status();
}

// The volume's synchronous data replicas: the target gets as many, when the
// remote has the nodes.
int SyncReplicaCount(const VolumeView& v) {
  int n = 0;
  for (const auto& r : v.replicas) n += r.async ? 0 : 1;
  return std::max(n, 1);
}

// Whether `target` is this pairing's: the only volume this sync writes into.
absl::Status CheckOurs(const RemoteSyncEnv& env, const RemoteSyncPolicy& p,
                       const std::string& volume_id, const VolumeView& target) {
  auto marker = target.attributes.find(kAttrRemoteSourceId);
  if (marker != target.attributes.end() && marker->second == p.pairing) return absl::OkStatus();
  if (target.attributes.count(kAttrRemotePromotedFrom) != 0 && marker == target.attributes.end()) {
    return absl::FailedPreconditionError(
        absl::StrCat(TargetName(env, p),
                     " was promoted (ctl volume promote-remote) and takes writes of its own: "
                     "this sync no longer writes into it; stop it with `ctl volume replicate ",
                     volume_id, " --stop`, or sync back from there"));
  }
  return absl::FailedPreconditionError(absl::StrCat(
      TargetName(env, p), " exists and is not the target of ", volume_id,
      "'s sync (it does not carry this pairing); give another --target, or delete it there"));
}

absl::StatusOr<Target> ReadyTarget(const RemoteSyncEnv& env, const VolumeView& source,
                                   const RemoteSyncPolicy& p) {
  Target t;
  auto existing = env.remote->GetVolume(p.target);
  if (existing.ok()) {
    t.volume = *existing;
    RETURN_IF_ERROR(CheckOurs(env, p, source.id, t.volume));
  } else if (existing.status().code() == absl::StatusCode::kNotFound) {
    ASSIGN_OR_RETURN(auto nodes, env.remote->Nodes());
    int reachable = 0;
    for (const auto& n : nodes) reachable += n.reachable ? 1 : 0;
    if (reachable == 0) {
      return absl::UnavailableError(
          absl::StrCat("remote ", env.remote_name, ": none of its storage nodes answers"));
    }
    VolumeSpec spec;
    spec.id = p.target;
    spec.size_bytes = source.size_bytes;
    spec.replicas = std::min(SyncReplicaCount(source), reachable);
    spec.attributes = {{kAttrRemoteSourceId, p.pairing}, {kAttrRemoteSourceVolume, source.id}};
    auto made = env.remote->CreateVolume(spec);
    if (!made.ok()) {
      return absl::Status(made.status().code(), absl::StrCat("creating ", TargetName(env, p), ": ",
                                                             made.status().message()));
    }
    t.volume = *made;
    t.fresh = true;
  } else {
    return absl::Status(existing.status().code(), absl::StrCat("remote ", env.remote_name, ": ",
                                                               existing.status().message()));
  }
  const auto deadline = std::chrono::steady_clock::now() + env.target_ready_timeout;
  while (!t.volume.serving) {
    if (std::chrono::steady_clock::now() > deadline || env.stopping()) {
      return absl::UnavailableError(absl::StrCat(TargetName(env, p), " has no serving primary"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    ASSIGN_OR_RETURN(t.volume, env.remote->GetVolume(p.target));
  }
  return t;
}

const ClusterSnapshotView* Find(const std::vector<ClusterSnapshotView>& list,
                                const std::string& name) {
  for (const auto& s : list) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

// The newest sync snapshot both sides hold ready: what the target's data
// equals, apart from what a later transfer half-wrote.
std::string CommonBase(const std::vector<ClusterSnapshotView>& source,
                       const std::vector<ClusterSnapshotView>& target) {
  for (auto it = source.rbegin(); it != source.rend(); ++it) {
    if (Find(target, it->name) != nullptr) return it->name;
  }
  return "";
}

absl::StatusOr<ByteRanges> Regions(StorageCluster& cluster, const std::string& from,
                                   const std::string& to, uint64_t size) {
  ASSIGN_OR_RETURN(auto diff, cluster.DiffSnapshots(from, to));
  return RangesOfRegions(diff.changed_regions, diff.region_size, size);
}

// Keeps the newest `keep` sync snapshots of the target (never `current`),
// and on the source only `current`, the next cycle's base.
void Prune(const RemoteSyncEnv& env, const std::string& volume_id, const RemoteSyncPolicy& p,
           const std::string& current) {
  auto target = env.remote->ListSnapshots(p.target);
  if (target.ok()) {
    auto ready = ReadySyncSnapshots(*target);
    const int extra = static_cast<int>(ready.size()) - p.keep;
    for (int i = 0; i < extra; ++i) {
      if (ready[i].name == current) continue;
      if (absl::Status s = env.remote->DeleteSnapshot(ready[i].id); !s.ok()) {
        spdlog::warn("remote sync of {}: deleting {} on remote {}: {}", volume_id, ready[i].id,
                     env.remote_name, s.message());
      }
    }
  }
  auto source = env.source->ListSnapshots(volume_id);
  if (!source.ok()) return;
  for (const auto& s : *source) {
    if (!RemoteSnapshotPoint(s.name) || s.name == current) continue;
    if (absl::Status d = env.source->DeleteSnapshot(s.id); !d.ok()) {
      spdlog::warn("remote sync of {}: deleting {}: {}", volume_id, s.id, d.message());
    }
  }
}

// A sync snapshot's name for now: past every one either side holds, so
// that names order by data even when clocks differ or step back.
std::string NewSnapshotName(int64_t now, const std::vector<ClusterSnapshotView>& source,
                            const std::vector<ClusterSnapshotView>& target) {
  int64_t point = now;
  for (const auto* list : {&source, &target}) {
    for (const auto& s : *list)
      point = std::max(point, RemoteSnapshotPoint(s.name).value_or(0) + 1);
  }
  return RemoteSnapshotName(point);
}

// What the target lacks of `snapshot` (size `size`) since `base`: ranges to
// read and ship, and ranges known to be zeros.
struct Work {
  ByteRanges ranges;
  ByteRanges zeroes;
};

absl::StatusOr<Work> FullCopy(const RemoteSyncEnv& env, const std::string& snapshot_id,
                              uint64_t size, bool fresh) {
  Work w;
  ASSIGN_OR_RETURN(auto allocated, env.source->AllocatedRegions(snapshot_id));
  w.ranges = RangesOfRegions(allocated.changed_regions, allocated.region_size, size);
  // What an earlier, unfinished copy wrote where this snapshot holds zeros.
  if (!fresh) w.zeroes = ComplementOf(w.ranges, size);
  return w;
}

absl::StatusOr<Work> Changes(const RemoteSyncEnv& env, const std::string& volume_id,
                             const RemoteSyncPolicy& p, const std::string& base,
                             const std::string& snapshot_id, uint64_t size) {
  auto shipped = Regions(*env.source, SnapshotId(volume_id, base), snapshot_id, size);
  // What the target holds past the base: a half-applied transfer, or (a
  // failback) the writes it took while it was the one in use.
  auto written = Regions(*env.remote, SnapshotId(p.target, base), "", size);
  if (shipped.ok() && written.ok()) return Work{UnionOf(*shipped, *written), {}};
  const absl::Status& why = shipped.ok() ? written.status() : shipped.status();
  // Only a side that does not hold the base for a diff; anything else (a
  // primary moving, a copy under way) is retried, not answered by a copy of
  // everything.
  if (why.code() != absl::StatusCode::kNotFound || !absl::StrContains(why.message(), base)) {
    return why;
  }
  // A side cannot diff from the base (a new primary that holds it otherwise):
  // the whole snapshot then, still without its holes.
  spdlog::warn("remote sync of {}: no diff from {} ({}); copying the whole snapshot", volume_id,
               base, why.message());
  return FullCopy(env, snapshot_id, size, /*fresh=*/false);
}

// The cycle's work; the caller records the outcome.
absl::Status Cycle(const RemoteSyncEnv& env, const std::string& volume_id,
                   const RemoteSyncPolicy& p, RemoteSyncStatus& status, RemoteCycle& cycle) {
  if (env.remote == nullptr) {
    return env.remote_error.ok() ? absl::InternalError("no remote to sync to") : env.remote_error;
  }
  ASSIGN_OR_RETURN(VolumeView source, env.source->GetVolume(volume_id));
  if (!source.serving) {
    return absl::UnavailableError(absl::StrCat(volume_id, " has no serving primary"));
  }
  if (source.encrypted) {
    return absl::FailedPreconditionError(absl::StrCat(
        volume_id, " is encrypted: a remote sync of an encrypted volume is not supported"));
  }
  ASSIGN_OR_RETURN(Target target, ReadyTarget(env, source, p));
  RETURN_IF_ERROR(Renew(env, volume_id, p.pairing));
  ASSIGN_OR_RETURN(auto source_all, env.source->ListSnapshots(volume_id));
  ASSIGN_OR_RETURN(auto target_all, env.remote->ListSnapshots(p.target));
  const auto source_ready = ReadySyncSnapshots(source_all);
  const auto target_ready = ReadySyncSnapshots(target_all);
  const std::string base = target.fresh ? "" : CommonBase(source_ready, target_ready);

  // Resumed only into the very volume the transfer was writing (it says so:
  // a target made again, or another remote's of that name, does not).
  ShipTotals start;
  const auto& progress = status.progress;
  auto receiving = target.volume.attributes.find(kAttrRemoteReceiving);
  if (progress && !target.fresh && progress->target == p.target && progress->base == base &&
      progress->snapshot != base && receiving != target.volume.attributes.end() &&
      receiving->second == progress->snapshot &&
      Find(source_ready, progress->snapshot) != nullptr &&
      Find(target_ready, progress->snapshot) == nullptr) {
    cycle.snapshot = progress->snapshot;
    start.through_offset = progress->through_offset;
    start.bytes_shipped = progress->bytes_shipped;
    cycle.resumed_from = progress->through_offset;
  } else {
    cycle.snapshot = NewSnapshotName(env.now_unix_ms(), source_ready, target_ready);
    ASSIGN_OR_RETURN(auto snap, env.source->CreateSnapshot(volume_id, cycle.snapshot));
    if (!snap.ready_to_use) {
      return absl::UnavailableError(
          absl::StrCat("snapshot ", snap.id, " is not held by a majority of the replicas yet"));
    }
  }
  cycle.base = base;
  const std::string snapshot_id = SnapshotId(volume_id, cycle.snapshot);
  // The snapshot's size, not the volume's: the volume may grow meanwhile.
  ASSIGN_OR_RETURN(auto snap, env.source->GetSnapshot(snapshot_id));
  const uint64_t size = snap.size_bytes;

  // Recorded before anything is written: a failure from here on resumes this
  // snapshot rather than cutting another.
  RemoteProgress pr;
  pr.snapshot = cycle.snapshot;
  pr.base = base;
  pr.target = p.target;
  pr.through_offset = start.through_offset;
  pr.bytes_shipped = start.bytes_shipped;
  pr.updated_unix_ms = env.now_unix_ms();
  status.progress = pr;
  RETURN_IF_ERROR(UnderLease(env, volume_id, p.pairing,
                             {{kAttrRemoteStatus, EncodeRemoteSyncStatus(status)}}, false)
                      .status());
  if (receiving == target.volume.attributes.end() || receiving->second != cycle.snapshot) {
    RETURN_IF_ERROR(
        env.remote->SetAttributes(p.target, {{kAttrRemoteReceiving, cycle.snapshot}}, {}).status());
  }

  if (target.volume.size_bytes > size) {
    return absl::FailedPreconditionError(absl::StrCat(
        "volume size mismatch: ", snapshot_id, " is ", size, " bytes and ", TargetName(env, p),
        " is ", target.volume.size_bytes, " bytes; a target is never shrunk"));
  }
  if (target.volume.size_bytes < size) {
    // The source grew since the last cycle: the target follows.
    ASSIGN_OR_RETURN(target.volume, env.remote->ExpandVolume(p.target, size));
  }

  Work work;
  if (base.empty()) {
    ASSIGN_OR_RETURN(work, FullCopy(env, snapshot_id, size, target.fresh));
  } else {
    ASSIGN_OR_RETURN(work, Changes(env, volume_id, p, base, snapshot_id, size));
  }
  cycle.changed_bytes = TotalBytes(work.ranges) + TotalBytes(work.zeroes);
  status.progress->changed_bytes = cycle.changed_bytes;
  RETURN_IF_ERROR(Renew(env, volume_id, p.pairing));

  ASSIGN_OR_RETURN(ChunkReader read, SnapshotReader(*env.source, source, cycle.snapshot));
  ASSIGN_OR_RETURN(auto sink, NbdChunkSink::Open(target.volume.nbd_uri, TargetName(env, p)));
  if (sink->size() != size) {
    return absl::FailedPreconditionError(absl::StrCat("volume size mismatch: ", TargetName(env, p),
                                                      " exports ", sink->size(), " bytes, ",
                                                      snapshot_id, " is ", size));
  }
  const uint64_t shipped_before = start.bytes_shipped;
  auto checkpoint = [&](const ShipTotals& t) -> absl::Status {
    status.progress->through_offset = t.through_offset;
    status.progress->bytes_shipped = t.bytes_shipped;
    status.progress->updated_unix_ms = env.now_unix_ms();
    cycle.bytes_shipped = t.bytes_shipped - shipped_before;
    // A promotion there ends our right to write: stop at once.
    ASSIGN_OR_RETURN(auto now_target, env.remote->GetVolume(p.target));
    RETURN_IF_ERROR(CheckOurs(env, p, volume_id, now_target));
    ASSIGN_OR_RETURN(auto now_source,
                     UnderLease(env, volume_id, p.pairing,
                                {{kAttrRemoteStatus, EncodeRemoteSyncStatus(status)}}, false));
    auto now_policy = RemoteSyncPolicyFromAttributes(now_source.attributes);
    if (!now_policy.ok() || !now_policy->has_value() || (*now_policy)->remote != p.remote ||
        (*now_policy)->target != p.target) {
      cycle.stopped = true;
      return absl::CancelledError(
          absl::StrCat("the sync of ", volume_id, " was stopped or declared anew"));
    }
    return absl::OkStatus();
  };
  ASSIGN_OR_RETURN(ShipTotals done, ShipRanges(work.ranges, work.zeroes, start, read, *sink,
                                               env.ship, checkpoint, env.stopping, *Clock::Real()));
  cycle.bytes_shipped = done.bytes_shipped - shipped_before;
  cycle.zero_bytes = done.zero_bytes;

  // Only now, with everything on the target and flushed, does the target get
  // the snapshot: its newest snapshot is never a half-applied one. Unless a
  // promotion took the target meanwhile.
  ASSIGN_OR_RETURN(auto before_cut, env.remote->GetVolume(p.target));
  RETURN_IF_ERROR(CheckOurs(env, p, volume_id, before_cut));
  ASSIGN_OR_RETURN(auto cut, env.remote->CreateSnapshot(p.target, cycle.snapshot));
  if (!cut.ready_to_use) {
    return absl::UnavailableError(absl::StrCat("snapshot ", cut.id, " on remote ", env.remote_name,
                                               " is not held by a majority yet"));
  }
  // Pruning only a target still ours: a promotion may have chosen one.
  ASSIGN_OR_RETURN(auto before_prune, env.remote->GetVolume(p.target));
  RETURN_IF_ERROR(CheckOurs(env, p, volume_id, before_prune));
  Prune(env, volume_id, p, cycle.snapshot);
  return absl::OkStatus();
}

}  // namespace

std::vector<ClusterSnapshotView> ReadySyncSnapshots(const std::vector<ClusterSnapshotView>& all) {
  std::vector<ClusterSnapshotView> out;
  for (const auto& s : all) {
    if (s.ready_to_use && RemoteSnapshotPoint(s.name)) out.push_back(s);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return *RemoteSnapshotPoint(a.name) < *RemoteSnapshotPoint(b.name);
  });
  return out;
}

absl::StatusOr<ChunkReader> SnapshotReader(StorageCluster& cluster, const VolumeView& volume,
                                           const std::string& snapshot) {
  ASSIGN_OR_RETURN(auto snap, cluster.GetSnapshot(SnapshotId(volume.id, snapshot)));
  std::vector<std::string> holders;
  for (const auto& r : snap.replicas) {
    if (r.state != "ready") continue;
    if (r.node == volume.primary) {
      holders.insert(holders.begin(), r.node);
    } else {
      holders.push_back(r.node);
    }
  }
  ASSIGN_OR_RETURN(auto nodes, cluster.Nodes());
  for (const auto& id : holders) {
    for (const auto& n : nodes) {
      if (n.id != id || !n.reachable) continue;
      auto client = std::make_shared<NodeClient>(n.control_address, std::chrono::seconds(30));
      client->SetNodeId(n.id);
      return ChunkReader([client, volume_id = volume.id, snapshot](uint64_t offset, uint32_t len) {
        return client->ReadSnapshotRegion(volume_id, snapshot, offset, len);
      });
    }
  }
  return absl::UnavailableError(
      absl::StrCat("no reachable replica holds snapshot ", snap.id, " ready"));
}

RemoteCycle RunRemoteSyncCycle(const RemoteSyncEnv& env, const std::string& volume_id,
                               const RemoteSyncPolicy& policy, RemoteSyncStatus& status) {
  RemoteCycle cycle;
  cycle.started_unix_ms = env.now_unix_ms();
  absl::Status s = Cycle(env, volume_id, policy, status, cycle);
  cycle.finished_unix_ms = env.now_unix_ms();
  cycle.ok = s.ok();
  status.bytes_shipped_total += cycle.bytes_shipped;
  if (s.ok()) {
    ++status.cycles_ok;
    status.progress.reset();
    status.newest_remote_snapshot = cycle.snapshot;
    status.newest_remote_point_unix_ms = RemoteSnapshotPoint(cycle.snapshot).value_or(0);
    status.failing_since_unix_ms = 0;
    status.last = cycle;
    spdlog::info(
        "remote sync of {} to {} on remote {}: {} shipped ({} bytes of data, {} of "
        "zeros, {} changed{}) in {} ms",
        volume_id, policy.target, env.remote_name, cycle.snapshot, cycle.bytes_shipped,
        cycle.zero_bytes, cycle.changed_bytes,
        cycle.resumed_from ? absl::StrCat(", resumed at ", cycle.resumed_from) : "",
        cycle.finished_unix_ms - cycle.started_unix_ms);
  } else if (s.code() == absl::StatusCode::kCancelled && (cycle.stopped || env.stopping())) {
    // Stopped on purpose (a shutdown, `--stop`): no failure; the progress
    // stays for the next run.
    spdlog::info("remote sync of {}: {}", volume_id, s.message());
  } else {
    cycle.error = std::string(s.message());
    ++status.cycles_failed;
    if (status.failing_since_unix_ms == 0) status.failing_since_unix_ms = cycle.started_unix_ms;
    status.last = cycle;
    spdlog::warn("remote sync of {} to {} on remote {} failed: {}", volume_id, policy.target,
                 env.remote_name, cycle.error);
  }
  status.next_run_unix_ms = NextRunUnixMs(policy, status);
  auto saved = UnderLease(env, volume_id, policy.pairing,
                          {{kAttrRemoteStatus, EncodeRemoteSyncStatus(status)}},
                          /*release=*/true);
  if (!saved.ok()) {
    spdlog::warn("remote sync of {}: saving its status: {}", volume_id, saved.status().message());
  }
  return cycle;
}

}  // namespace syncblock::repl
