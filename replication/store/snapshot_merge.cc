// LayeredSnapshotChain's delete side: a deleted layer leaves List at once; a
// background thread then copies what the next older layer still needs from
// it into that layer, and removes its files. Order and crash-safety in
// replication/doc/replica_format.md ("Deleting a snapshot").
#include <fcntl.h>
#include <linux/falloc.h>

#include <algorithm>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "replication/store/file_util.h"
#include "replication/store/layered_snapshot_chain.h"
#include "replication/util/logging.h"
#include "replication/util/status_macros.h"

namespace syncblock::repl {
namespace {

// Regions copied between two syncs of the older layer during the first pass.
constexpr size_t kCopyBatch = 256;

}  // namespace

absl::Status LayeredSnapshotChain::Delete(const std::string& name) {
  std::lock_guard<std::mutex> admin(admin_mu_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    LayerPtr layer = FindLocked(name);
    if (!layer) return absl::OkStatus();
    layer->deleting = true;
    if (absl::Status s = SaveIndexLocked(); !s.ok()) {
      layer->deleting = false;
      return s;
    }
    StartMergeThreadLocked();
  }
  merge_cv_.notify_all();
  return absl::OkStatus();
}

void LayeredSnapshotChain::WaitForMerges() {
  std::unique_lock<std::mutex> lock(mu_);
  merge_cv_.wait(lock, [&] {
    return stop_.load() || (!merging_ && std::none_of(layers_.begin(), layers_.end(),
                                                      [](const LayerPtr& l) {
                                                        return l->deleting;
                                                      }));
  });
}

void LayeredSnapshotChain::MergeLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_.load()) {
    auto doomed = std::find_if(layers_.begin(), layers_.end(),
                               [](const LayerPtr& l) { return l->deleting; });
    if (doomed == layers_.end()) {
      merge_cv_.wait(lock);
      continue;
    }
    LayerPtr layer = *doomed;
    merging_ = true;
    lock.unlock();
    absl::Status s = MergeAway(layer);
    lock.lock();
    merging_ = false;
    merge_cv_.notify_all();
    if (!s.ok() && !stop_.load()) {
      spdlog::error("merging away snapshot {} in {}: {}", layer->record.name, dir_, s.message());
      // Retried later: the merge is idempotent.
      merge_cv_.wait_for(lock, std::chrono::seconds(5));
    }
  }
}

LayeredSnapshotChain::LayerPtr LayeredSnapshotChain::OlderChainLayerLocked(
    const SnapshotLayer* doomed) const {
  LayerPtr older;
  for (const auto& l : layers_) {
    if (l.get() == doomed) return older;
    if (!l->record.materialized) older = l;
  }
  return nullptr;
}

absl::Status LayeredSnapshotChain::CopyDown(SnapshotLayer& older,
                                            const std::vector<uint64_t>& regions) {
  if (regions.empty()) return absl::OkStatus();
  RETURN_IF_ERROR(older.SyncData());
  for (uint64_t r : regions) RETURN_IF_ERROR(older.MarkPreserved(r, r));
  return older.SyncBitmap();
}

absl::Status LayeredSnapshotChain::MergeAway(const LayerPtr& doomed) {
  LayerPtr older;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!doomed->record.materialized) older = OlderChainLayerLocked(doomed.get());
  }
  std::vector<char> buf(region_size_);
  // Copies region r down when the older layer needs it; r's stripe is held.
  // The older layer is not the newest, so no write preserves into it: only
  // this thread changes its bitmap.
  auto copy_one = [&](uint64_t r, std::vector<uint64_t>* copied) -> absl::Status {
    if (r >= older->regions() || older->Preserved(r)) return absl::OkStatus();
    uint64_t off = r * region_size_;
    uint64_t n = std::min(region_size_, older->record.size_bytes - off);
    if (RangeIsHole(doomed->data_fd(), off, n)) {
      // A copy cut short by a crash may have left bytes there.
      if (fallocate(older->data_fd(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                    static_cast<off_t>(off), static_cast<off_t>(n)) != 0) {
        return ErrnoStatus(absl::StrCat("punch hole in ", older->dir()));
      }
    } else {
      RETURN_IF_ERROR(PreadFull(doomed->data_fd(), buf.data(), n, off));
      RETURN_IF_ERROR(PwriteFull(older->data_fd(), buf.data(), n, off));
    }
    copied->push_back(r);
    return absl::OkStatus();
  };

  // Pass 1, one region at a time so IO waits at most for one region's copy.
  if (older) {
    std::vector<uint64_t> copied;
    for (auto r = doomed->NextPreserved(0); r; r = doomed->NextPreserved(*r + 1)) {
      if (stop_.load()) return absl::CancelledError("stopping");
      {
        RegionLocks::Guard stripe = locks_.Lock(*r, *r);
        RETURN_IF_ERROR(copy_one(*r, &copied));
      }
      if (copied.size() >= kCopyBatch) {
        RETURN_IF_ERROR(CopyDown(*older, copied));
        copied.clear();
      }
    }
    RETURN_IF_ERROR(CopyDown(*older, copied));
  }

  // Pass 2 under every stripe: what writes preserved into it meanwhile (when
  // it is the newest), then it leaves the chain.
  std::unique_lock<std::mutex> admin(admin_mu_);
  {
    RegionLocks::Guard all = locks_.LockAll();
    if (older) {
      std::vector<uint64_t> copied;
      for (auto r = doomed->NextPreserved(0); r; r = doomed->NextPreserved(*r + 1)) {
        RETURN_IF_ERROR(copy_one(*r, &copied));
      }
      RETURN_IF_ERROR(CopyDown(*older, copied));
    }
    std::lock_guard<std::mutex> lock(mu_);
    auto it = std::find(layers_.begin(), layers_.end(), doomed);
    if (it == layers_.end()) return absl::OkStatus();
    size_t pos = it - layers_.begin();
    layers_.erase(it);
    if (absl::Status s = SaveIndexLocked(); !s.ok()) {
      layers_.insert(layers_.begin() + pos, doomed);
      return s;
    }
    active_.store(AnyChainLayerLocked(), std::memory_order_seq_cst);
  }
  // Out of the index first: a crash now leaves a stray directory, which Open
  // removes. Renamed to a name no snapshot can have ('.'), so the name is free
  // at once and the slow unlink of a large file runs without admin_mu_.
  std::string trash = dir_ + "/.deleted-" + doomed->record.name;
  std::error_code ec;
  std::filesystem::remove_all(trash, ec);
  std::filesystem::rename(doomed->dir(), trash, ec);
  if (ec) return absl::InternalError(absl::StrCat("rename ", doomed->dir(), ": ", ec.message()));
  admin.unlock();
  std::filesystem::remove_all(trash, ec);
  if (ec) return absl::InternalError(absl::StrCat("remove ", trash, ": ", ec.message()));
  return SyncDir(dir_);
}

}  // namespace syncblock::repl
