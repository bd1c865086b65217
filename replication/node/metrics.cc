#include "replication/node/metrics.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "absl/strings/str_cat.h"
#include "replication/engine/primary_engine.h"
#include "replication/nbd/nbd_stats.h"
#include "replication/node/elector.h"
#include "replication/node/remote_sync_metrics.h"
#include "replication/types/async_policy.h"

namespace syncblock::repl {
namespace {

void Family(std::string& out, const char* name, const char* type, const char* help) {
  absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
}

// The QoS limits of the volumes this node serves and what they held back.
void AppendQosMetrics(std::string& out, StorageNode& node) {
  std::string iops, bandwidth, burst, requests, delayed, delay, queued;
  for (const auto& [id, s] : node.qos().Stats()) {
    auto replica = node.FindReplica(id);
    if (!replica || !replica->engine()) continue;  // served elsewhere now
    std::string v = absl::StrCat("{volume=\"", id, "\"} ");
    absl::StrAppend(&iops, "syncblock_volume_qos_max_iops", v, s.settings.max_iops, "\n");
    absl::StrAppend(&bandwidth, "syncblock_volume_qos_max_bandwidth_bytes", v,
                    s.settings.max_bandwidth, "\n");
    absl::StrAppend(&burst, "syncblock_volume_qos_burst_seconds", v, s.settings.burst_seconds,
                    "\n");
    absl::StrAppend(&requests, "syncblock_volume_qos_requests_total", v, s.requests, "\n");
    absl::StrAppend(&delayed, "syncblock_volume_qos_delayed_total", v, s.delayed, "\n");
    absl::StrAppend(&delay, "syncblock_volume_qos_delay_seconds_total", v, s.delay_seconds, "\n");
    absl::StrAppend(&queued, "syncblock_volume_qos_queued_requests", v, s.queued, "\n");
  }
  auto section = [&](const char* name, const char* type, const char* help,
                     const std::string& body) {
    Family(out, name, type, help);
    out += body;
  };
  section("syncblock_volume_qos_max_iops", "gauge",
          "The volume's IOPS limit on its primary's NBD export (0: none).", iops);
  section("syncblock_volume_qos_max_bandwidth_bytes", "gauge",
          "The volume's bandwidth limit in bytes per second (0: none).", bandwidth);
  section("syncblock_volume_qos_burst_seconds", "gauge",
          "Seconds of its limits an idle volume may spend at once.", burst);
  section("syncblock_volume_qos_requests_total", "counter",
          "NBD requests that passed the volume's limiter.", requests);
  section("syncblock_volume_qos_delayed_total", "counter",
          "Requests the limiter held back to keep the volume within its limits.", delayed);
  section("syncblock_volume_qos_delay_seconds_total", "counter",
          "Total time requests waited in the limiter.", delay);
  section("syncblock_volume_qos_queued_requests", "gauge", "Requests waiting in the limiter now.",
          queued);
}

}  // namespace

std::string RenderNodeMetrics(StorageNode& node, const Elector* elector) {
  std::string out = RenderNbdStatsPrometheus(node.nbd().Stats());
  const std::string self = node.options().node_id;
  NodeCapacity cap = node.Capacity();
  Family(out, "syncblock_node_capacity_bytes", "gauge", "Size of the data directory's filesystem.");
  absl::StrAppend(&out, "syncblock_node_capacity_bytes{node=\"", self, "\"} ", cap.capacity_bytes,
                  "\n");
  Family(out, "syncblock_node_available_bytes", "gauge",
         "Space free for new volumes (less what sparse replicas may claim).");
  absl::StrAppend(&out, "syncblock_node_available_bytes{node=\"", self, "\"} ", cap.available_bytes,
                  "\n");
  Family(out, "syncblock_replication_frames_rejected_total", "counter",
         "Replication frames refused as malformed or corrupt.");
  absl::StrAppend(&out, "syncblock_replication_frames_rejected_total{node=\"", self, "\"} ",
                  node.replication().frames_rejected(), "\n");
  if (elector != nullptr) {
    Family(out, "syncblock_failovers_total", "counter",
           "Volumes this node became primary of by election (automatic failover).");
    absl::StrAppend(&out, "syncblock_failovers_total{node=\"", self, "\"} ", elector->won(), "\n");
    Family(out, "syncblock_elections_failed_total", "counter",
           "Elections this node ran that no majority accepted.");
    absl::StrAppend(&out, "syncblock_elections_failed_total{node=\"", self, "\"} ",
                    elector->failed(), "\n");
  }

  std::string lease, role, epoch, state, lag, lag_bytes, dirty, copied, total, ratio, remaining;
  std::string desired, in_sync, rpo_seconds, rpo_bytes, rpo_broken, throttled;
  std::string volume_rpo, volume_rpo_bound;
  std::string snapshots, snapshots_ready, snap_copied, snap_total;
  std::vector<RemoteSyncVolume> primaries;
  for (auto& r : node.Replicas()) {
    Manifest m = r->manifest();
    auto engine = r->engine();
    std::string v = absl::StrCat("volume=\"", m.volume_id, "\"");
    absl::StrAppend(&role, "syncblock_volume_primary{", v, "} ", engine ? 1 : 0, "\n");
    absl::StrAppend(&epoch, "syncblock_volume_epoch{", v, "} ", m.epoch, "\n");
    if (!engine) {
      absl::StrAppend(&lease, "syncblock_volume_lease_remaining_seconds{", v,
                      ",role=\"secondary\"} ", r->PromiseRemaining().count() / 1000.0, "\n");
      absl::StrAppend(&snapshots, "syncblock_volume_snapshots{", v, "} ",
                      r->store().snapshots().List().size(), "\n");
      continue;
    }
    primaries.push_back({m.volume_id, m.attributes});
    std::vector<SnapshotView> snaps = engine->Snapshots();
    size_t ready = 0;
    for (const auto& sv : snaps) {
      ready += sv.ready ? 1 : 0;
      for (const auto& mv : sv.members) {
        if (mv.state != SnapshotCopyState::kCopying) continue;
        std::string l =
            absl::StrCat(v, ",replica=\"", mv.node_id, "\",snapshot=\"", sv.record.name, "\"");
        absl::StrAppend(&snap_copied, "syncblock_snapshot_copy_bytes_copied{", l, "} ",
                        mv.bytes_copied, "\n");
        absl::StrAppend(&snap_total, "syncblock_snapshot_copy_bytes_total{", l, "} ",
                        mv.bytes_total, "\n");
      }
    }
    absl::StrAppend(&snapshots, "syncblock_volume_snapshots{", v, "} ", snaps.size(), "\n");
    absl::StrAppend(&snapshots_ready, "syncblock_volume_snapshots_ready{", v, "} ", ready, "\n");
    EngineView view = engine->View();
    absl::StrAppend(&lease, "syncblock_volume_lease_remaining_seconds{", v, ",role=\"primary\"} ",
                    view.lease_remaining_ms < 0 ? std::string("+Inf")
                                                : absl::StrCat(view.lease_remaining_ms / 1000.0),
                    "\n");
    // Data replicas only: a witness holds no data, so it neither counts as
    // wanted nor as in sync.
    int data_members = 0;
    for (const auto& member : m.members) data_members += member.witness ? 0 : 1;
    int synced = 1;  // the primary's own copy
    for (const auto& p : view.peers) synced += p.state == PeerState::kInSync && !p.witness ? 1 : 0;
    absl::StrAppend(&desired, "syncblock_volume_replicas{", v, "} ", data_members, "\n");
    absl::StrAppend(&in_sync, "syncblock_volume_replicas_in_sync{", v, "} ", synced, "\n");
    // The volume's achieved recovery point: what its furthest asynchronous
    // replica lacks (0 with synchronous replicas only: a majority holds
    // every acknowledged write).
    double rpo = 0;
    bool has_async = false;
    for (const auto& p : view.peers) {
      std::string l = absl::StrCat(v, ",replica=\"", p.node_id, "\"");
      for (PeerState s :
           {PeerState::kInSync, PeerState::kOffline, PeerState::kResyncing, PeerState::kFailed}) {
        absl::StrAppend(&state, "syncblock_replica_state{", l, ",state=\"", PeerStateName(s),
                        "\"} ", p.state == s ? 1 : 0, "\n");
      }
      absl::StrAppend(&lag, "syncblock_replication_lag_frames{", l, "} ", p.unacked, "\n");
      absl::StrAppend(&lag_bytes, "syncblock_replication_lag_bytes{", l, "} ", p.queued_bytes,
                      "\n");
      absl::StrAppend(&dirty, "syncblock_replica_dirty_bytes{", l, "} ", p.dirty_bytes, "\n");
      if (p.async) {
        has_async = true;
        rpo = std::max(rpo, p.lag.ms / 1000.0);
        absl::StrAppend(&rpo_seconds, "syncblock_async_replica_lag_seconds{", l, "} ",
                        p.lag.ms / 1000.0, "\n");
        absl::StrAppend(&rpo_bytes, "syncblock_async_replica_lag_bytes{", l, "} ", p.lag.bytes,
                        "\n");
        absl::StrAppend(&rpo_broken, "syncblock_async_replica_lag_bound_broken{", l, "} ",
                        p.lag.broken ? 1 : 0, "\n");
        absl::StrAppend(&throttled, "syncblock_async_replica_throttled_writes_total{", l, "} ",
                        p.lag.throttled_writes, "\n");
      }
      absl::StrAppend(&copied, "syncblock_resync_bytes_copied{", l, "} ", p.resync.bytes_copied,
                      "\n");
      absl::StrAppend(&total, "syncblock_resync_bytes_total{", l, "} ", p.resync.bytes_total, "\n");
      double progress = p.resync.bytes_total
                            ? static_cast<double>(p.resync.bytes_copied) / p.resync.bytes_total
                            : (p.state == PeerState::kInSync ? 1.0 : 0.0);
      absl::StrAppend(&ratio, "syncblock_resync_progress_ratio{", l, "} ", progress, "\n");
      absl::StrAppend(&remaining, "syncblock_resync_remaining_bytes{", l, "} ",
                      p.resync.bytes_total - std::min(p.resync.bytes_total, p.resync.bytes_copied),
                      "\n");
    }
    absl::StrAppend(&volume_rpo, "syncblock_volume_rpo_seconds{", v, "} ", rpo, "\n");
    if (auto policy = AsyncPolicyFromAttributes(m.attributes); has_async && policy.ok()) {
      absl::StrAppend(&volume_rpo_bound, "syncblock_volume_rpo_bound_seconds{", v, "} ",
                      policy->max_lag.count() / 1000.0, "\n");
    }
  }
  auto section = [&](const char* name, const char* type, const char* help,
                     const std::string& body) {
    Family(out, name, type, help);
    out += body;
  };
  section("syncblock_volume_primary", "gauge", "1 when this node serves the volume as primary.",
          role);
  section("syncblock_volume_epoch", "gauge", "The volume's epoch as this replica knows it.", epoch);
  section("syncblock_volume_lease_remaining_seconds", "gauge",
          "On the primary: the lease a majority granted it (0: IO waits; +Inf: one replica). On "
          "a secondary: its promise to the primary (0: it would elect another).",
          lease);
  section("syncblock_volume_replicas", "gauge",
          "Data replicas the volume has (its members, the witness not counted; primary only).",
          desired);
  section("syncblock_volume_replicas_in_sync", "gauge",
          "Data replicas in sync, the primary's own included (primary only).", in_sync);
  section("syncblock_replica_state", "gauge", "Each replica's state, seen by the primary.", state);
  section("syncblock_replication_lag_frames", "gauge",
          "Frames sent to a replica and not yet acknowledged.", lag);
  section("syncblock_replication_lag_bytes", "gauge",
          "Bytes of the frames queued or sent to a replica and not yet acknowledged.", lag_bytes);
  section("syncblock_replica_dirty_bytes", "gauge",
          "Bytes a replica misses, from the primary's dirty bitmap.", dirty);
  section("syncblock_volume_rpo_seconds", "gauge",
          "The volume's achieved recovery point: the largest lag of its asynchronous replicas (0 "
          "with synchronous replicas only; primary only).",
          volume_rpo);
  section("syncblock_volume_rpo_bound_seconds", "gauge",
          "The recovery point the volume declares (async.max-lag-ms), for volumes with "
          "asynchronous replicas (primary only).",
          volume_rpo_bound);
  section("syncblock_async_replica_lag_seconds", "gauge",
          "An asynchronous replica's recovery point: the age of the oldest acknowledged write it "
          "lacks, or the time since it left sync when its bound is broken.",
          rpo_seconds);
  section("syncblock_async_replica_lag_bytes", "gauge",
          "Bytes an asynchronous replica lacks: sent and unacknowledged, or dirty when its bound "
          "is broken.",
          rpo_bytes);
  section("syncblock_async_replica_lag_bound_broken", "gauge",
          "1 while an asynchronous replica is not within its lag bound (pulled ahead, offline or "
          "resyncing).",
          rpo_broken);
  section("syncblock_async_replica_throttled_writes_total", "counter",
          "Writes slowed to keep an asynchronous replica within its bound (lagPolicy throttle).",
          throttled);
  section("syncblock_resync_bytes_copied", "gauge", "Bytes copied by the current resync.", copied);
  section("syncblock_resync_bytes_total", "gauge", "Bytes the current resync copies.", total);
  section("syncblock_resync_progress_ratio", "gauge", "Resync progress, 0 to 1.", ratio);
  section("syncblock_resync_remaining_bytes", "gauge", "Bytes the resync still has to copy.",
          remaining);
  section("syncblock_volume_snapshots", "gauge",
          "Snapshots of the volume (on the primary: every one it knows; elsewhere: held here).",
          snapshots);
  section("syncblock_volume_snapshots_ready", "gauge",
          "Snapshots a majority of the replicas hold (primary only).", snapshots_ready);
  section("syncblock_snapshot_copy_bytes_copied", "gauge",
          "Bytes of a snapshot copied so far to a replica that missed it.", snap_copied);
  section("syncblock_snapshot_copy_bytes_total", "gauge",
          "Bytes of the snapshot being copied to a replica that missed it.", snap_total);
  AppendQosMetrics(out, node);
  out += RenderRemoteSyncMetrics(primaries, std::chrono::duration_cast<std::chrono::milliseconds>(
                                                std::chrono::system_clock::now().time_since_epoch())
                                                .count());
  return out;
}

}  // namespace syncblock::repl
