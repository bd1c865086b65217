#include "replication/store/snapshot_layer.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "replication/store/file_util.h"
#include "replication/util/status_macros.h"

namespace syncblock::repl {
namespace {

constexpr char kDataName[] = "/data";
constexpr char kBitmapName[] = "/preserved.bitmap";

uint64_t RegionsOf(uint64_t size, uint64_t region_size) {
  return (size + region_size - 1) / region_size;
}

}  // namespace

SnapshotLayer::SnapshotLayer(std::string dir, int data_fd, uint64_t regions,
                             std::unique_ptr<DirtyBitmap> bitmap)
    : dir_(std::move(dir)), data_fd_(data_fd), regions_(regions), bitmap_(std::move(bitmap)) {}

SnapshotLayer::~SnapshotLayer() { close(data_fd_); }

absl::StatusOr<std::shared_ptr<SnapshotLayer>> SnapshotLayer::Create(
    const std::string& dir, const SnapshotRecord& record, uint64_t region_size) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("mkdir ", dir, ": ", ec.message()));
  std::string data = dir + kDataName;
  int fd = open(data.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus(absl::StrCat("open ", data));
  if (ftruncate(fd, static_cast<off_t>(record.size_bytes)) != 0 || fsync(fd) != 0) {
    absl::Status s = ErrnoStatus(absl::StrCat("size ", data));
    close(fd);
    return s;
  }
  uint64_t regions = RegionsOf(record.size_bytes, region_size);
  std::unique_ptr<DirtyBitmap> bitmap;
  if (!record.materialized) {
    auto bm = DirtyBitmap::Open(dir + kBitmapName, regions);
    absl::Status s = bm.ok() ? (*bm)->Sync() : bm.status();
    if (!s.ok()) {
      close(fd);
      return s;
    }
    bitmap = *std::move(bm);
  }
  auto layer = std::shared_ptr<SnapshotLayer>(
      new SnapshotLayer(dir, fd, regions, std::move(bitmap)));
  layer->record = record;
  RETURN_IF_ERROR(SyncDir(dir));
  RETURN_IF_ERROR(SyncDir(std::filesystem::path(dir).parent_path()));
  return layer;
}

absl::StatusOr<std::shared_ptr<SnapshotLayer>> SnapshotLayer::Open(
    const std::string& dir, const SnapshotRecord& record, uint64_t region_size) {
  std::string data = dir + kDataName;
  std::string bitmap_path = dir + kBitmapName;
  // DirtyBitmap::Open would make a missing bitmap all clear: a silent loss.
  if (!record.materialized && !std::filesystem::exists(bitmap_path)) {
    return absl::DataLossError(absl::StrCat("snapshot ", record.name, ": ", bitmap_path,
                                            " is missing"));
  }
  int fd = open(data.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    return absl::DataLossError(absl::StrCat("snapshot ", record.name, ": open ", data));
  }
  uint64_t regions = RegionsOf(record.size_bytes, region_size);
  std::unique_ptr<DirtyBitmap> bitmap;
  if (!record.materialized) {
    auto bm = DirtyBitmap::Open(bitmap_path, regions);
    if (!bm.ok()) {
      close(fd);
      return bm.status();
    }
    bitmap = *std::move(bm);
  }
  auto layer = std::shared_ptr<SnapshotLayer>(
      new SnapshotLayer(dir, fd, regions, std::move(bitmap)));
  layer->record = record;
  return layer;
}

bool SnapshotLayer::Preserved(uint64_t region) const {
  std::lock_guard<std::mutex> lock(mu_);
  return bitmap_ && bitmap_->Test(region);
}

std::optional<uint64_t> SnapshotLayer::NextPreserved(uint64_t from) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!bitmap_) return std::nullopt;
  return bitmap_->NextSet(from);
}

uint64_t SnapshotLayer::PreservedCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bitmap_ ? bitmap_->count() : 0;
}

absl::Status SnapshotLayer::MarkPreserved(uint64_t first, uint64_t last) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!bitmap_) return absl::FailedPreconditionError("a materialized snapshot has no bitmap");
  return bitmap_->Mark(first, last);
}

absl::Status SnapshotLayer::SyncBitmap() {
  std::lock_guard<std::mutex> lock(mu_);
  return bitmap_ ? bitmap_->Sync() : absl::OkStatus();
}

absl::Status SnapshotLayer::SyncData() {
  if (fdatasync(data_fd_) != 0) return ErrnoStatus(absl::StrCat("fdatasync ", dir_, kDataName));
  return absl::OkStatus();
}

}  // namespace syncblock::repl
