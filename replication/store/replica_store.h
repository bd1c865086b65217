// One replica's files on a storage node: the data (a sparse file as large as
// the volume), the manifest, the bitmaps and the snapshots. Layout and
// formats in replication/doc/replica_format.md.
//
// Every change of the live data (Write, Trim, Zero, shrinking Resize) first
// lets the snapshot chain preserve what its newest layer still needs.
//
// Thread-safe for concurrent reads and writes of the data (positional IO);
// SaveManifest calls must be serialized by the caller.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "replication/store/env.h"
#include "replication/store/layered_snapshot_chain.h"
#include "replication/store/manifest.h"
#include "replication/store/snapshot_chain.h"

namespace syncblock::repl {

class ReplicaStore {
 public:
  // Creates the directory, a sparse data file of m.size_bytes (empty for a
  // witness, which holds no data) and the manifest. The live data's IO goes
  // through `env` (nullptr: Env::Posix()).
  static absl::StatusOr<std::unique_ptr<ReplicaStore>> Create(const std::string& dir,
                                                              const Manifest& m, Env* env = nullptr,
                                                              bool holds_data = true);
  // Opens an existing replica; its manifest is returned through `manifest`.
  static absl::StatusOr<std::unique_ptr<ReplicaStore>> Open(const std::string& dir,
                                                            Manifest* manifest, Env* env = nullptr);
  // Removes the replica's directory and everything in it.
  static absl::Status Destroy(const std::string& dir);

  ~ReplicaStore();
  ReplicaStore(const ReplicaStore&) = delete;
  ReplicaStore& operator=(const ReplicaStore&) = delete;

  const std::string& dir() const { return dir_; }
  std::string BitmapPath(const std::string& name) const;

  // The replica's snapshots (copy-on-write layers beside the data).
  SnapshotChain& snapshots() { return *chain_; }
  // Ends background work on the replica's files (snapshot merges) before the
  // replica goes away or its directory is removed.
  void StopBackgroundWork();

  // Writes the manifest to a temporary file, syncs it and renames it over.
  absl::Status SaveManifest(const Manifest& m);

  // RESOURCE_EXHAUSTED when the disk is full, INTERNAL for other IO errors.
  absl::Status Write(uint64_t offset, const char* data, size_t len);
  absl::Status Read(uint64_t offset, char* data, size_t len);
  // Makes every completed write durable (fdatasync).
  absl::Status Sync();
  // Deallocates (reads as zeros afterwards).
  absl::Status Trim(uint64_t offset, uint64_t len);
  // Zeroes; with `allocate` the range stays allocated.
  absl::Status Zero(uint64_t offset, uint64_t len, bool allocate);
  // Grows (or shrinks) the data file. Snapshots keep their own size.
  absl::Status Resize(uint64_t size);
  // True when [offset, offset+len) holds no allocated data (SEEK_DATA).
  bool IsHole(uint64_t offset, uint64_t len);
  // CRC32C of [offset, offset+len).
  absl::StatusOr<uint32_t> Checksum(uint64_t offset, uint64_t len);

 private:
  ReplicaStore(std::string dir, int data_fd, Env* env)
      : dir_(std::move(dir)), data_fd_(data_fd), env_(env ? env : Env::Posix()) {}
  absl::Status IoError(const char* what, uint64_t offset);
  absl::Status OpenChain(uint64_t region_size);
  // The live-data operations, without copy-on-write (the caller holds a guard).
  absl::Status WriteLive(uint64_t offset, const char* data, size_t len);
  absl::Status TrimLive(uint64_t offset, uint64_t len);

  std::string dir_;
  int data_fd_;
  Env* const env_;
  std::unique_ptr<LayeredSnapshotChain> chain_;
};

}  // namespace syncblock::repl
