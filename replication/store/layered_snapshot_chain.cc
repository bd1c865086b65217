#include "replication/store/layered_snapshot_chain.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "replication/store/file_util.h"
#include "replication/store/snapshot_index.h"
#include "replication/util/status_macros.h"

namespace syncblock::repl {
namespace {

constexpr char kSnapshotsDir[] = "/snapshots";
constexpr char kIndexName[] = "/index.json";

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

absl::StatusOr<std::unique_ptr<LayeredSnapshotChain>> LayeredSnapshotChain::Open(
    const std::string& replica_dir, int live_fd, uint64_t region_size) {
  std::string dir = replica_dir + kSnapshotsDir;
  std::vector<SnapshotIndexEntry> entries;
  std::ifstream in(dir + kIndexName);
  if (in) {
    std::stringstream ss;
    ss << in.rdbuf();
    auto parsed = SnapshotIndexFromJson(ss.str());
    if (!parsed.ok()) {
      return absl::Status(parsed.status().code(),
                          absl::StrCat(dir, ": ", parsed.status().message()));
    }
    entries = *std::move(parsed);
  }
  std::vector<LayerPtr> layers;
  std::set<std::string> known = {"index.json"};
  for (const auto& e : entries) {
    auto layer = SnapshotLayer::Open(dir + "/" + e.record.name, e.record, region_size);
    if (!layer.ok()) return layer.status();
    (*layer)->deleting = e.deleting;
    layers.push_back(*std::move(layer));
    known.insert(e.record.name);
  }
  // Directories of snapshots that never reached the index (a crash while
  // cutting) or that left it (a crash while removing their files).
  std::error_code ec;
  if (std::filesystem::is_directory(dir, ec)) {
    for (const auto& ent : std::filesystem::directory_iterator(dir, ec)) {
      if (!known.count(ent.path().filename().string())) std::filesystem::remove_all(ent, ec);
    }
  }
  auto chain = std::unique_ptr<LayeredSnapshotChain>(
      new LayeredSnapshotChain(dir, live_fd, region_size, std::move(layers)));
  return chain;
}

LayeredSnapshotChain::LayeredSnapshotChain(std::string dir, int live_fd, uint64_t region_size,
                                           std::vector<LayerPtr> layers)
    : dir_(std::move(dir)), live_fd_(live_fd), region_size_(region_size),
      layers_(std::move(layers)) {
  active_.store(AnyChainLayerLocked());
  if (std::any_of(layers_.begin(), layers_.end(), [](const LayerPtr& l) { return l->deleting; })) {
    StartMergeThreadLocked();
  }
}

void LayeredSnapshotChain::StartMergeThreadLocked() {
  if (!merge_thread_.joinable()) merge_thread_ = std::thread([this] { MergeLoop(); });
}

LayeredSnapshotChain::~LayeredSnapshotChain() { StopMerging(); }

void LayeredSnapshotChain::StopMerging() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true);
  }
  merge_cv_.notify_all();
  if (merge_thread_.joinable()) merge_thread_.join();
}

uint64_t LayeredSnapshotChain::LiveSize() const {
  struct stat st{};
  if (fstat(live_fd_, &st) != 0) return 0;
  return static_cast<uint64_t>(st.st_size);
}

LayeredSnapshotChain::LayerPtr LayeredSnapshotChain::FindLocked(const std::string& name) const {
  for (const auto& l : layers_) {
    if (l->record.name == name && !l->deleting) return l;
  }
  return nullptr;
}

LayeredSnapshotChain::LayerPtr LayeredSnapshotChain::NewestChainLayerLocked() const {
  for (auto it = layers_.rbegin(); it != layers_.rend(); ++it) {
    if (!(*it)->record.materialized) return *it;
  }
  return nullptr;
}

bool LayeredSnapshotChain::AnyChainLayerLocked() const {
  return NewestChainLayerLocked() != nullptr;
}

absl::Status LayeredSnapshotChain::SaveIndexLocked() {
  std::vector<SnapshotIndexEntry> entries;
  for (const auto& l : layers_) entries.push_back({l->record, l->deleting});
  return WriteFileSynced(dir_ + kIndexName, SnapshotIndexToJson(entries));
}

absl::Status LayeredSnapshotChain::CheckNameFreeLocked(const std::string& name) const {
  for (const auto& l : layers_) {
    if (l->record.name != name) continue;
    if (l->deleting) {
      return absl::UnavailableError(
          absl::StrCat("snapshot ", name, " is still being deleted; retry"));
    }
    return absl::AlreadyExistsError(absl::StrCat("snapshot ", name, " exists"));
  }
  return absl::OkStatus();
}

absl::StatusOr<LayeredSnapshotChain::OverwriteGuard> LayeredSnapshotChain::BeginOverwrite(
    uint64_t offset, uint64_t len) {
  if (len == 0) return OverwriteGuard();
  // Dekker-style with Create: either Create sees us counted and waits, or we
  // see its layer and take the stripes.
  unguarded_.fetch_add(1, std::memory_order_seq_cst);
  if (!active_.load(std::memory_order_seq_cst)) return OverwriteGuard(&unguarded_);
  unguarded_.fetch_sub(1, std::memory_order_seq_cst);

  uint64_t first = offset / region_size_;
  uint64_t last = (offset + len - 1) / region_size_;
  RegionLocks::Guard stripes = locks_.Lock(first, last);
  LayerPtr newest;
  {
    std::lock_guard<std::mutex> lock(mu_);
    newest = NewestChainLayerLocked();
  }
  if (newest) RETURN_IF_ERROR(Preserve(*newest, first, last));
  return OverwriteGuard(std::move(stripes));
}

absl::Status LayeredSnapshotChain::Preserve(SnapshotLayer& layer, uint64_t first,
                                            uint64_t last) {
  if (layer.regions() == 0) return absl::OkStatus();
  last = std::min(last, layer.regions() - 1);
  if (first > last) return absl::OkStatus();
  const uint64_t size = layer.record.size_bytes;  // immutable for a chain layer
  std::vector<char> buf;
  std::vector<std::pair<uint64_t, uint64_t>> runs;  // regions to mark
  bool copied = false;
  uint64_t next_data = 0;  // live data starts at or after this offset; 0 = unknown
  bool next_known = false;
  for (uint64_t r = first; r <= last; ++r) {
    if (layer.Preserved(r)) continue;
    uint64_t off = r * region_size_;
    uint64_t n = std::min(region_size_, size - off);
    if (!next_known || next_data < off) {
      off_t d = lseek(live_fd_, static_cast<off_t>(off), SEEK_DATA);
      next_data = d >= 0 ? static_cast<uint64_t>(d) : (errno == ENXIO ? UINT64_MAX : off);
      next_known = true;
    }
    // A hole preserves itself: the layer's file is sparse there too.
    if (next_data < off + n) {
      buf.resize(n);
      RETURN_IF_ERROR(PreadFull(live_fd_, buf.data(), n, off));
      RETURN_IF_ERROR(PwriteFull(layer.data_fd(), buf.data(), n, off));
      copied = true;
    }
    if (!runs.empty() && runs.back().second + 1 == r) {
      runs.back().second = r;
    } else {
      runs.push_back({r, r});
    }
  }
  if (runs.empty()) return absl::OkStatus();
  // The copy must be on disk before its bit, and the bit before the overwrite.
  if (copied) RETURN_IF_ERROR(layer.SyncData());
  for (const auto& [a, b] : runs) RETURN_IF_ERROR(layer.MarkPreserved(a, b));
  return layer.SyncBitmap();
}

absl::StatusOr<LayeredSnapshotChain::LayerPtr> LayeredSnapshotChain::NewLayerAdminLocked(
    const SnapshotRecord& rec) {
  if (!ValidSnapshotName(rec.name)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid snapshot name '", rec.name, "'"));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    RETURN_IF_ERROR(CheckNameFreeLocked(rec.name));
  }
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  return SnapshotLayer::Create(LayerDir(rec.name), rec, region_size_);
}

absl::Status LayeredSnapshotChain::Create(const SnapshotRecord& in) {
  SnapshotRecord rec = in;
  rec.materialized = false;
  rec.complete = true;
  if (rec.size_bytes == 0) rec.size_bytes = LiveSize();
  if (rec.created_unix_ms == 0) rec.created_unix_ms = NowUnixMs();

  std::lock_guard<std::mutex> admin(admin_mu_);
  ASSIGN_OR_RETURN(LayerPtr layer, NewLayerAdminLocked(rec));
  std::error_code ec;
  absl::Status s;
  {
    // The cut: no change of live data is in flight while the layer appears.
    RegionLocks::Guard all = locks_.LockAll();
    active_.store(true, std::memory_order_seq_cst);
    while (unguarded_.load(std::memory_order_seq_cst) != 0) std::this_thread::yield();
    std::lock_guard<std::mutex> lock(mu_);
    layers_.push_back(layer);
    s = SaveIndexLocked();
    if (!s.ok()) {
      layers_.pop_back();
      active_.store(AnyChainLayerLocked());
    }
  }
  if (!s.ok()) std::filesystem::remove_all(layer->dir(), ec);
  return s;
}

absl::Status LayeredSnapshotChain::CreateMaterialized(const SnapshotRecord& in) {
  SnapshotRecord rec = in;
  rec.materialized = true;
  rec.complete = false;
  if (rec.created_unix_ms == 0) rec.created_unix_ms = NowUnixMs();

  std::lock_guard<std::mutex> admin(admin_mu_);
  ASSIGN_OR_RETURN(LayerPtr layer, NewLayerAdminLocked(rec));
  std::error_code ec;
  std::lock_guard<std::mutex> lock(mu_);
  // Listed at its point in the write stream, so List and Changed keep order.
  auto pos = layers_.end();
  if (rec.seq != 0) {
    pos = std::find_if(layers_.begin(), layers_.end(),
                       [&](const LayerPtr& l) { return l->record.seq > rec.seq; });
  }
  pos = layers_.insert(pos, layer);
  absl::Status s = SaveIndexLocked();
  if (!s.ok()) {
    layers_.erase(pos);
    std::filesystem::remove_all(layer->dir(), ec);
  }
  return s;
}

absl::Status LayeredSnapshotChain::WriteMaterialized(const std::string& name, uint64_t offset,
                                                     const char* data, size_t len) {
  LayerPtr layer;
  {
    std::lock_guard<std::mutex> lock(mu_);
    layer = FindLocked(name);
    if (!layer) return absl::NotFoundError(absl::StrCat("snapshot ", name, " not found"));
    if (!layer->record.materialized || layer->record.complete) {
      return absl::FailedPreconditionError(
          absl::StrCat("snapshot ", name, " is not a copy being filled"));
    }
    if (offset > layer->record.size_bytes || len > layer->record.size_bytes - offset) {
      return absl::OutOfRangeError(absl::StrCat("write past the end of snapshot ", name));
    }
  }
  // Zeros become a hole, so a copy of a sparse snapshot stays sparse.
  if (std::all_of(data, data + len, [](char c) { return c == 0; })) {
    if (len > 0 && fallocate(layer->data_fd(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                             static_cast<off_t>(offset), static_cast<off_t>(len)) != 0) {
      return ErrnoStatus(absl::StrCat("punch hole in snapshot ", name));
    }
    return absl::OkStatus();
  }
  return PwriteFull(layer->data_fd(), data, len, offset);
}

absl::Status LayeredSnapshotChain::CompleteMaterialized(const std::string& name) {
  std::lock_guard<std::mutex> admin(admin_mu_);
  LayerPtr layer;
  {
    std::lock_guard<std::mutex> lock(mu_);
    layer = FindLocked(name);
    if (!layer) return absl::NotFoundError(absl::StrCat("snapshot ", name, " not found"));
    if (!layer->record.materialized) {
      return absl::FailedPreconditionError(absl::StrCat("snapshot ", name, " is not a copy"));
    }
    if (layer->record.complete) return absl::OkStatus();
  }
  RETURN_IF_ERROR(layer->SyncData());
  std::lock_guard<std::mutex> lock(mu_);
  layer->record.complete = true;
  absl::Status s = SaveIndexLocked();
  if (!s.ok()) layer->record.complete = false;
  return s;
}

std::vector<SnapshotRecord> LayeredSnapshotChain::List() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<SnapshotRecord> out;
  for (const auto& l : layers_) {
    if (!l->deleting) out.push_back(l->record);
  }
  return out;
}

absl::StatusOr<SnapshotRecord> LayeredSnapshotChain::Get(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  LayerPtr l = FindLocked(name);
  if (!l) return absl::NotFoundError(absl::StrCat("snapshot ", name, " not found"));
  return l->record;
}

}  // namespace syncblock::repl
