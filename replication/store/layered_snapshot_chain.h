// The replica store's SnapshotChain: copy-on-write layers under
// REPLICA_DIR/snapshots/ (index.json + one directory per snapshot), as laid
// out in replication/doc/replica_format.md ("Snapshots").
//
// ReplicaStore holds an OverwriteGuard (BeginOverwrite) around every change of
// the live data; the guard has preserved what the newest layer still needs and
// keeps the regions' stripes locked until the change is done. With no layers
// the guard costs two atomic operations and no lock.
//
// Thread-safe. Lock order: admin_mu_, then region stripes (ascending), then
// mu_, then a layer's bitmap mutex. A background thread (started at the first
// delete) merges deleted layers away; the destructor stops and joins it (an
// unfinished merge resumes at the next Open).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "replication/store/region_locks.h"
#include "replication/store/snapshot_chain.h"
#include "replication/store/snapshot_layer.h"

namespace syncblock::repl {

class LayeredSnapshotChain final : public SnapshotChain {
 public:
  // Loads REPLICA_DIR/snapshots (none yet is fine: a v1 replica) over the live
  // data file `live_fd` (not owned; must outlive the chain).
  static absl::StatusOr<std::unique_ptr<LayeredSnapshotChain>> Open(
      const std::string& replica_dir, int live_fd, uint64_t region_size);
  ~LayeredSnapshotChain() override;
  // Stops the background merge for good (idempotent); an unfinished merge
  // resumes when the replica is next opened.
  void StopMerging();
  LayeredSnapshotChain(const LayeredSnapshotChain&) = delete;
  LayeredSnapshotChain& operator=(const LayeredSnapshotChain&) = delete;

  // Held across one change of live bytes [offset, offset+len).
  class OverwriteGuard {
   public:
    OverwriteGuard() = default;
    OverwriteGuard(OverwriteGuard&& o) noexcept
        : unguarded_(o.unguarded_), stripes_(std::move(o.stripes_)) {
      o.unguarded_ = nullptr;
    }
    OverwriteGuard& operator=(OverwriteGuard&&) = delete;
    ~OverwriteGuard() {
      if (unguarded_) unguarded_->fetch_sub(1, std::memory_order_seq_cst);
    }

   private:
    friend class LayeredSnapshotChain;
    explicit OverwriteGuard(std::atomic<int64_t>* unguarded) : unguarded_(unguarded) {}
    explicit OverwriteGuard(RegionLocks::Guard stripes) : stripes_(std::move(stripes)) {}
    std::atomic<int64_t>* unguarded_ = nullptr;
    RegionLocks::Guard stripes_;
  };

  // Preserves into the newest layer the regions of [offset, offset+len) it
  // still lacks (durably), and returns with their stripes locked.
  absl::StatusOr<OverwriteGuard> BeginOverwrite(uint64_t offset, uint64_t len);

  absl::Status Create(const SnapshotRecord& record) override;
  absl::Status CreateMaterialized(const SnapshotRecord& record) override;
  absl::Status WriteMaterialized(const std::string& name, uint64_t offset, const char* data,
                                 size_t len) override;
  absl::Status CompleteMaterialized(const std::string& name) override;
  absl::Status Delete(const std::string& name) override;
  std::vector<SnapshotRecord> List() const override;
  absl::StatusOr<SnapshotRecord> Get(const std::string& name) const override;
  absl::Status Read(const std::string& name, uint64_t offset, char* data, size_t len) override;
  absl::StatusOr<uint32_t> Checksum(const std::string& name, uint64_t offset,
                                    uint64_t len) override;
  bool IsHole(const std::string& name, uint64_t offset, uint64_t len) override;
  absl::StatusOr<ChangedRegions> Changed(const std::string& from, const std::string& to) override;

  // Blocks until no deleted layer is left to merge (tests, shutdown paths).
  void WaitForMerges();

 private:
  using LayerPtr = std::shared_ptr<SnapshotLayer>;

  LayeredSnapshotChain(std::string dir, int live_fd, uint64_t region_size,
                       std::vector<LayerPtr> layers);

  std::string LayerDir(const std::string& name) const { return dir_ + "/" + name; }
  uint64_t LiveSize() const;
  // Requires mu_.
  LayerPtr FindLocked(const std::string& name) const;
  LayerPtr NewestChainLayerLocked() const;
  bool AnyChainLayerLocked() const;
  absl::Status SaveIndexLocked();
  absl::Status CheckNameFreeLocked(const std::string& name) const;
  // Requires admin_mu_ (not mu_): a new layer for `rec`, not yet listed, once
  // its name is valid and free.
  absl::StatusOr<LayerPtr> NewLayerAdminLocked(const SnapshotRecord& rec);

  // Copies live regions [first, last] the layer lacks into it; stripes held.
  absl::Status Preserve(SnapshotLayer& layer, uint64_t first, uint64_t last);
  // Reads [offset, offset+len) within one region of chain layer `target`;
  // the region's stripe is held.
  absl::Status ReadChainPiece(const SnapshotLayer* target, uint64_t offset, char* data,
                              size_t len);
  // One full region of a snapshot (or the live volume when `layer` is null),
  // zeros past its size.
  absl::Status ReadRegion(const LayerPtr& layer, uint64_t region, char* buf);
  absl::StatusOr<ChangedRegions> ChangedByContent(const LayerPtr& from, const LayerPtr& to);

  // The merge thread (snapshot_merge.cc), started at the first delete: idle
  // replicas cost no thread.
  void StartMergeThreadLocked();
  void MergeLoop();
  absl::Status MergeAway(const LayerPtr& doomed);
  // Marks durably in `older` the regions whose bytes were just copied into it.
  absl::Status CopyDown(SnapshotLayer& older, const std::vector<uint64_t>& regions);
  LayerPtr OlderChainLayerLocked(const SnapshotLayer* doomed) const;

  const std::string dir_;  // REPLICA_DIR/snapshots
  const int live_fd_;
  const uint64_t region_size_;
  RegionLocks locks_;
  // True while any copy-on-write layer exists; flips only with every stripe held.
  std::atomic<bool> active_{false};
  // Changes of live data running without stripes (active_ was false).
  std::atomic<int64_t> unguarded_{0};

  std::mutex admin_mu_;  // serializes Create*, Complete, Delete and a merge's end
  mutable std::mutex mu_;
  std::vector<LayerPtr> layers_;  // oldest first; guarded by mu_
  std::condition_variable merge_cv_;  // with mu_
  std::atomic<bool> stop_{false};
  bool merging_ = false;  // guarded by mu_
  std::thread merge_thread_;  // started under mu_
};

}  // namespace syncblock::repl
