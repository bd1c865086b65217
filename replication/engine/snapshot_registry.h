// The primary's persistent record of a volume's snapshots and of which members
// hold each one complete (replication/doc/snapshots.md, "Who holds what"). It
// lives in the replica's directory as snapshot-holders.json, written
// atomically, so that a restarted primary still knows which snapshots are
// ready and which replicas still need a copy.
//
// Path: ReplicaStore::dir() + "/" + kSnapshotRegistryFile.
//
// Not thread-safe: PrimaryEngine guards it with its mutex.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "replication/store/snapshot_chain.h"

namespace syncblock::repl {

inline constexpr char kSnapshotRegistryFile[] = "snapshot-holders.json";

struct SnapshotEntry {
  SnapshotRecord record;
  std::set<std::string> holders;  // node ids holding it complete
};

class SnapshotRegistry {
 public:
  // An empty registry when the file does not exist; DATA_LOSS when corrupt.
  static absl::StatusOr<SnapshotRegistry> Load(const std::string& path);

  absl::Status Save() const { return WriteFile(path_, Encode()); }
  // Save in two steps, so that the file can be written outside the caller's
  // lock: the content now, the write later.
  std::string Encode() const;
  static absl::Status WriteFile(const std::string& path, const std::string& text);
  const std::string& path() const { return path_; }
  // The epoch of the primary that wrote it: entries this node does not hold
  // itself are trusted only from the current epoch (promotion writes them).
  uint64_t epoch() const { return epoch_; }
  void set_epoch(uint64_t epoch) { epoch_ = epoch; }
  std::map<std::string, SnapshotEntry>& entries() { return entries_; }
  const std::map<std::string, SnapshotEntry>& entries() const { return entries_; }
  SnapshotEntry* Find(const std::string& name);
  std::vector<std::string> Names() const;

 private:
  std::string path_;
  uint64_t epoch_ = 0;
  std::map<std::string, SnapshotEntry> entries_;
};

}  // namespace syncblock::repl
