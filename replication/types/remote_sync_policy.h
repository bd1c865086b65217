// Snapshot-based sync of a volume to a remote cluster
// (replication/doc/remote_sync.md): what a volume's attributes declare, and
// the status the sync writes back into them. Kept in the manifest, so that
// the schedule, its progress and its record survive a failover of either
// side and every node's /metrics can report it.
//
// Pure functions; thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace syncblock::repl {

// On the source volume: the sync's declaration (`ctl volume replicate`).
inline constexpr char kAttrRemoteName[] = "remote-sync.remote";          // a `ctl remote` name
inline constexpr char kAttrRemoteTarget[] = "remote-sync.target";        // the volume there
inline constexpr char kAttrRemoteInterval[] = "remote-sync.interval-s";  // seconds
inline constexpr char kAttrRemoteKeep[] = "remote-sync.keep";            // snapshots kept there
inline constexpr char kAttrRemoteRate[] = "remote-sync.rate";  // bytes per second, 0: no limit
// The default name of a source's volume on a remote: this prefix + the
// source's volume id (a remote may name its own prefix).
inline constexpr char kDefaultRemotePrefix[] = "dr-";
// A random id naming this pairing of source and target: the target carries it
// (kAttrRemoteSourceId), so that a sync writes only into its own target.
inline constexpr char kAttrRemotePairing[] = "remote-sync.pairing";
// On the source volume: RemoteSyncStatus as JSON, written by the sync.
inline constexpr char kAttrRemoteStatus[] = "remote-sync.status";
// On the source volume: a cycle is wanted now (`ctl volume replicate
// --now`), whatever the schedule; the cycle that starts removes it.
inline constexpr char kAttrRemoteRunNow[] = "remote-sync.run-now";
// On a target: the snapshot a transfer is writing into it. A transfer is
// resumed only into a target that says so: not into one deleted and made
// again, nor into another remote's volume of the same name.
inline constexpr char kAttrRemoteReceiving[] = "remote-sync.receiving";
// On a target volume: the pairing it receives (while set, only that sync
// writes into it, and CSI does not publish it) and the source's volume id.
inline constexpr char kAttrRemoteSourceId[] = "remote-sync.source-pairing";
inline constexpr char kAttrRemoteSourceVolume[] = "remote-sync.source-volume";
// On a target promoted with `ctl volume promote-remote`: the source volume
// and snapshot it was promoted from (failback ships back to that volume).
inline constexpr char kAttrRemotePromotedFrom[] = "remote-sync.promoted-from";
// Set while a promotion rolls the volume back to its snapshot (the name): it
// is not to be used until then, and a retry finishes the roll-back.
inline constexpr char kAttrRemotePromoting[] = "remote-sync.promoting";

// On the source volume: which process runs the sync's cycles now, and until
// when ("<owner> <unix ms>"), taken and renewed by compare-and-set, so that
// two controllers (a Deployment of two) never run one volume's cycles at once.
inline constexpr char kAttrRemoteLease[] = "remote-sync.lease";
// The owner of a released lease (whose expiry is when it was released).
inline constexpr char kNoLeaseOwner[] = "-";
struct RemoteLease {
  std::string owner;
  int64_t expires_unix_ms = 0;
};
std::string EncodeRemoteLease(const RemoteLease& lease);
// nullopt for "" or anything EncodeRemoteLease did not write.
std::optional<RemoteLease> DecodeRemoteLease(const std::string& text);

// The snapshots a sync takes are "rs-<unix ms>": the time is the recovery
// point they hold.
inline constexpr char kRemoteSnapshotPrefix[] = "rs-";
std::string RemoteSnapshotName(int64_t unix_ms);
// The time in a sync snapshot's name; nullopt for any other name.
std::optional<int64_t> RemoteSnapshotPoint(const std::string& name);

struct RemoteSyncPolicy {
  std::string remote;
  std::string target;
  std::chrono::seconds interval{60};
  int keep = 3;
  uint64_t rate_bytes_per_second = 0;  // 0: no limit
  std::string pairing;
};

// The declared sync, or nullopt when the volume declares none (no
// kAttrRemoteName). INVALID_ARGUMENT naming the attribute and what it takes.
absl::StatusOr<std::optional<RemoteSyncPolicy>> RemoteSyncPolicyFromAttributes(
    const std::map<std::string, std::string>& attributes);
// The attributes that declare `p` (every key above but the status).
std::map<std::string, std::string> RemoteSyncAttributes(const RemoteSyncPolicy& p);

// "30s", "5m", "2h" or a number of seconds: 10 s to 1 day. INVALID_ARGUMENT
// naming `what` otherwise.
absl::StatusOr<std::chrono::seconds> ParseRemoteInterval(const std::string& what,
                                                         const std::string& text);
// 1 to 100.
absl::StatusOr<int> ParseRemoteKeep(const std::string& what, const std::string& text);

// One sync cycle: a snapshot shipped (or the attempt).
struct RemoteCycle {
  std::string snapshot;  // rs-...
  std::string base;      // the snapshot both sides held; empty: a full copy
  int64_t started_unix_ms = 0;
  int64_t finished_unix_ms = 0;
  uint64_t bytes_shipped = 0;  // data sent (zeros travel as WRITE_ZEROES, below)
  uint64_t zero_bytes = 0;     // ranges written as zeros, without data
  uint64_t changed_bytes = 0;  // the changed ranges the cycle had to bring over
  uint64_t resumed_from = 0;   // offset an interrupted transfer went on from (0: none)
  bool ok = false;
  std::string error;
  // Stopped on purpose (`--stop`, a new declaration): not a failure. Not
  // recorded in the status.
  bool stopped = false;
};

// A transfer under way, or interrupted: what the next cycle resumes.
struct RemoteProgress {
  std::string snapshot;
  std::string base;
  std::string target;
  uint64_t through_offset = 0;  // every changed range below it is on the target, flushed
  uint64_t bytes_shipped = 0;
  uint64_t changed_bytes = 0;
  int64_t updated_unix_ms = 0;
};

struct RemoteSyncStatus {
  uint64_t cycles_ok = 0;
  uint64_t cycles_failed = 0;
  uint64_t bytes_shipped_total = 0;
  std::optional<RemoteCycle> last;
  std::optional<RemoteProgress> progress;
  // The newest snapshot the target holds complete, and its recovery point.
  std::string newest_remote_snapshot;
  int64_t newest_remote_point_unix_ms = 0;
  // Since when the cycles fail (0: the last one succeeded).
  int64_t failing_since_unix_ms = 0;
  int64_t next_run_unix_ms = 0;  // NextRunUnixMs when it was written (for display)
};

// When the next cycle is due: the start of the last successful one plus the
// interval, or 30 s (at most the interval) after a failed one, or 10 s after
// the last checkpoint of a transfer that is not going on; 0 (now) when none
// ran. From the declaration as it is now, so a shorter interval counts at
// once.
int64_t NextRunUnixMs(const RemoteSyncPolicy& p, const RemoteSyncStatus& s);

std::string EncodeRemoteSyncStatus(const RemoteSyncStatus& s);
// INVALID_ARGUMENT for anything but what EncodeRemoteSyncStatus wrote.
absl::StatusOr<RemoteSyncStatus> DecodeRemoteSyncStatus(const std::string& text);
// The status in `attributes`, or an empty one when there is none or it does
// not decode (a sync that has not run yet).
RemoteSyncStatus RemoteSyncStatusFromAttributes(
    const std::map<std::string, std::string>& attributes);

}  // namespace syncblock::repl
