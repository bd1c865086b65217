// LayeredSnapshotChain's read side: resolving a snapshot's bytes through the
// layers, checksums, holes, and the changed regions between two points.
#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "replication/store/file_util.h"
#include "replication/store/layered_snapshot_chain.h"
#include "replication/util/crc32c.h"
#include "replication/util/status_macros.h"

namespace syncblock::repl {

absl::Status LayeredSnapshotChain::ReadChainPiece(const SnapshotLayer* target, uint64_t offset,
                                                  char* data, size_t len) {
  uint64_t region = offset / region_size_;
  // Re-read the layer list under the stripe: a layer cut since the previous
  // piece may hold this region's old bytes by now.
  std::vector<LayerPtr> layers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    layers = layers_;
  }
  auto it = std::find_if(layers.begin(), layers.end(),
                         [&](const LayerPtr& l) { return l.get() == target; });
  if (it == layers.end()) return absl::NotFoundError("snapshot was deleted during the read");
  for (; it != layers.end(); ++it) {
    const SnapshotLayer& l = **it;
    if (l.record.materialized || !l.Preserved(region)) continue;
    return PreadFull(l.data_fd(), data, len, offset);
  }
  return PreadFull(live_fd_, data, len, offset);
}

absl::Status LayeredSnapshotChain::Read(const std::string& name, uint64_t offset, char* data,
                                        size_t len) {
  LayerPtr target;
  SnapshotRecord rec;
  {
    std::lock_guard<std::mutex> lock(mu_);
    target = FindLocked(name);
    if (!target) return absl::NotFoundError(absl::StrCat("snapshot ", name, " not found"));
    rec = target->record;
  }
  if (offset > rec.size_bytes || len > rec.size_bytes - offset) {
    return absl::OutOfRangeError(
        absl::StrCat("read past the end of snapshot ", name, " (", rec.size_bytes, " bytes)"));
  }
  if (rec.materialized) {
    if (!rec.complete) {
      return absl::FailedPreconditionError(absl::StrCat("snapshot ", name, " is incomplete"));
    }
    return PreadFull(target->data_fd(), data, len, offset);
  }
  while (len > 0) {
    uint64_t region = offset / region_size_;
    size_t n = std::min<uint64_t>(len, (region + 1) * region_size_ - offset);
    RegionLocks::Guard stripe = locks_.Lock(region, region);
    RETURN_IF_ERROR(ReadChainPiece(target.get(), offset, data, n));
    offset += n;
    data += n;
    len -= n;
  }
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> LayeredSnapshotChain::Checksum(const std::string& name,
                                                        uint64_t offset, uint64_t len) {
  std::vector<char> buf(std::min<uint64_t>(len, 1 << 20));
  uint32_t crc = 0;
  while (len > 0) {
    size_t n = std::min<uint64_t>(len, buf.size());
    RETURN_IF_ERROR(Read(name, offset, buf.data(), n));
    crc = Crc32c(crc, buf.data(), n);
    offset += n;
    len -= n;
  }
  return crc;
}

bool LayeredSnapshotChain::IsHole(const std::string& name, uint64_t offset, uint64_t len) {
  std::vector<LayerPtr> layers;
  size_t pos = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    LayerPtr target = FindLocked(name);
    if (!target || offset > target->record.size_bytes ||
        len > target->record.size_bytes - offset) {
      return false;
    }
    if (target->record.materialized) {
      return target->record.complete && RangeIsHole(target->data_fd(), offset, len);
    }
    layers = layers_;
    pos = std::find(layers.begin(), layers.end(), target) - layers.begin();
  }
  while (len > 0) {
    uint64_t region = offset / region_size_;
    uint64_t n = std::min<uint64_t>(len, (region + 1) * region_size_ - offset);
    int fd = live_fd_;
    for (size_t i = pos; i < layers.size(); ++i) {
      if (!layers[i]->record.materialized && layers[i]->Preserved(region)) {
        fd = layers[i]->data_fd();
        break;
      }
    }
    if (!RangeIsHole(fd, offset, n)) return false;
    offset += n;
    len -= n;
  }
  return true;
}

absl::Status LayeredSnapshotChain::ReadRegion(const LayerPtr& layer, uint64_t region, char* buf) {
  uint64_t off = region * region_size_;
  uint64_t size = layer ? layer->record.size_bytes : LiveSize();
  std::memset(buf, 0, region_size_);
  if (off >= size) return absl::OkStatus();
  size_t n = std::min(region_size_, size - off);
  if (!layer) return PreadFull(live_fd_, buf, n, off);
  return Read(layer->record.name, off, buf, n);
}

absl::StatusOr<ChangedRegions> LayeredSnapshotChain::ChangedByContent(const LayerPtr& from,
                                                                      const LayerPtr& to) {
  ChangedRegions out;
  out.region_size = region_size_;
  out.exact = false;
  uint64_t size = std::max(from->record.size_bytes, to ? to->record.size_bytes : LiveSize());
  uint64_t regions = (size + region_size_ - 1) / region_size_;
  std::vector<char> a(region_size_), b(region_size_);
  for (uint64_t r = 0; r < regions; ++r) {
    RETURN_IF_ERROR(ReadRegion(from, r, a.data()));
    RETURN_IF_ERROR(ReadRegion(to, r, b.data()));
    if (std::memcmp(a.data(), b.data(), region_size_) != 0) out.regions.push_back(r);
  }
  return out;
}

absl::StatusOr<ChangedRegions> LayeredSnapshotChain::Changed(const std::string& from,
                                                             const std::string& to) {
  std::vector<LayerPtr> span;  // chain layers from `from` (inclusive) to `to` (exclusive)
  LayerPtr from_layer, to_layer;
  {
    std::lock_guard<std::mutex> lock(mu_);
    from_layer = FindLocked(from);
    if (!from_layer) return absl::NotFoundError(absl::StrCat("snapshot ", from, " not found"));
    if (!to.empty()) {
      to_layer = FindLocked(to);
      if (!to_layer) return absl::NotFoundError(absl::StrCat("snapshot ", to, " not found"));
    }
    auto from_it = std::find(layers_.begin(), layers_.end(), from_layer);
    auto to_it = to_layer ? std::find(layers_.begin(), layers_.end(), to_layer) : layers_.end();
    if (to_it < from_it) {
      return absl::InvalidArgumentError(
          absl::StrCat("snapshot ", from, " is newer than ", to));
    }
    // Deleted layers in between still count: their bits are changes too.
    span.assign(from_it, to_it);
  }
  if (from_layer->record.materialized || (to_layer && to_layer->record.materialized)) {
    return ChangedByContent(from_layer, to_layer);
  }
  uint64_t to_size = to_layer ? to_layer->record.size_bytes : LiveSize();
  uint64_t to_regions = (to_size + region_size_ - 1) / region_size_;
  std::vector<bool> changed(to_regions, false);
  for (const LayerPtr& l : span) {
    if (l->record.materialized) continue;
    for (auto r = l->NextPreserved(0); r && *r < to_regions; r = l->NextPreserved(*r + 1)) {
      changed[*r] = true;
    }
  }
  // The volume grew after `from`: no layer tracked writes there before a cut
  // covered it, so anything allocated in `to` counts.
  for (uint64_t r = from_layer->regions(); r < to_regions; ++r) {
    if (changed[r]) continue;
    uint64_t off = r * region_size_;
    uint64_t n = std::min(region_size_, to_size - off);
    changed[r] = to_layer ? !IsHole(to, off, n) : !RangeIsHole(live_fd_, off, n);
  }
  ChangedRegions out;
  out.region_size = region_size_;
  for (uint64_t r = 0; r < to_regions; ++r) {
    if (changed[r]) out.regions.push_back(r);
  }
  return out;
}

}  // namespace syncblock::repl
