#include "replication/store/dirty_bitmap.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "replication/util/crc32c.h"

namespace syncblock::repl {
namespace {

constexpr uint32_t kBitmapMagic = 0x4D424253;  // "SBBM"
constexpr uint32_t kBitmapVersion = 1;
constexpr size_t kHeaderSize = 64;

struct Header {
  uint32_t magic;
  uint32_t version;
  uint64_t regions;
  uint32_t header_crc;  // over the bytes before it
  uint8_t reserved[kHeaderSize - 20];
};
static_assert(sizeof(Header) == kHeaderSize);

Header MakeHeader(uint64_t regions) {
  Header h{};
  h.magic = kBitmapMagic;
  h.version = kBitmapVersion;
  h.regions = regions;
  h.header_crc = Crc32c(&h, offsetof(Header, header_crc));
  return h;
}

std::string Errno(const std::string& what, const std::string& path) {
  return absl::StrCat(what, " ", path, ": ", std::strerror(errno));
}

}  // namespace

absl::StatusOr<std::unique_ptr<DirtyBitmap>> DirtyBitmap::Open(const std::string& path,
                                                               uint64_t regions) {
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return absl::InternalError(Errno("open", path));
  size_t nbytes = (regions + 7) / 8;
  std::vector<uint8_t> bits(nbytes, 0);
  struct stat st{};
  fstat(fd, &st);
  bool fresh = st.st_size == 0;
  if (!fresh) {
    Header h;
    if (pread(fd, &h, sizeof(h), 0) != static_cast<ssize_t>(sizeof(h)) ||
        h.magic != kBitmapMagic || h.header_crc != Crc32c(&h, offsetof(Header, header_crc))) {
      close(fd);
      return absl::DataLossError(absl::StrCat("bitmap ", path, " is corrupt"));
    }
    if (h.version != kBitmapVersion) {
      close(fd);
      return absl::DataLossError(absl::StrCat("bitmap ", path, " has version ", h.version));
    }
    size_t old_bytes = (h.regions + 7) / 8;
    size_t n = std::min(old_bytes, nbytes);
    if (n > 0 && pread(fd, bits.data(), n, kHeaderSize) != static_cast<ssize_t>(n)) {
      close(fd);
      return absl::DataLossError(absl::StrCat("bitmap ", path, " is truncated"));
    }
    // Bits past the old end (a grown volume) start clear; past the new end, dropped.
    if (regions < h.regions && regions % 8 != 0 && nbytes > 0) {
      bits[nbytes - 1] &= static_cast<uint8_t>((1u << (regions % 8)) - 1);
    }
    fresh = h.regions != regions;
  }
  if (fresh) {
    // Bits first, header last: a kill in between leaves the old header, which
    // still describes a file at least that long.
    // All-clear bits are not written: ftruncate's zeros are the same bits, and
    // a new bitmap (a snapshot layer's, a large volume's) then costs a header,
    // not a write as long as the volume is large.
    Header h = MakeHeader(regions);
    const bool any_set = std::any_of(bits.begin(), bits.end(), [](uint8_t b) { return b != 0; });
    if (ftruncate(fd, static_cast<off_t>(kHeaderSize + nbytes)) != 0 ||
        (any_set &&
         pwrite(fd, bits.data(), nbytes, kHeaderSize) != static_cast<ssize_t>(nbytes)) ||
        pwrite(fd, &h, sizeof(h), 0) != static_cast<ssize_t>(sizeof(h))) {
      std::string err = Errno("write", path);
      close(fd);
      return absl::InternalError(err);
    }
  }
  auto bm = std::unique_ptr<DirtyBitmap>(new DirtyBitmap(fd, regions, std::move(bits)));
  return bm;
}

DirtyBitmap::DirtyBitmap(int fd, uint64_t regions, std::vector<uint8_t> bits)
    : fd_(fd), regions_(regions), bits_(std::move(bits)) {
  for (uint8_t b : bits_) count_ += std::popcount(b);
}

DirtyBitmap::~DirtyBitmap() { close(fd_); }

bool DirtyBitmap::Test(uint64_t region) const {
  return region < regions_ && (bits_[region / 8] >> (region % 8)) & 1;
}

absl::Status DirtyBitmap::Persist(uint64_t first_byte, uint64_t last_byte) {
  size_t n = last_byte - first_byte + 1;
  if (pwrite(fd_, bits_.data() + first_byte, n, static_cast<off_t>(kHeaderSize + first_byte)) !=
      static_cast<ssize_t>(n)) {
    return absl::InternalError(absl::StrCat("bitmap write: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status DirtyBitmap::Mark(uint64_t first, uint64_t last) {
  if (regions_ == 0) return absl::OkStatus();
  if (last >= regions_) last = regions_ - 1;
  if (first > last) return absl::OkStatus();
  uint64_t changed_lo = UINT64_MAX, changed_hi = 0;
  for (uint64_t r = first; r <= last; ++r) {
    uint8_t mask = static_cast<uint8_t>(1u << (r % 8));
    uint8_t& byte = bits_[r / 8];
    if (!(byte & mask)) {
      byte |= mask;
      ++count_;
      changed_lo = std::min(changed_lo, r / 8);
      changed_hi = r / 8;
    }
  }
  if (changed_lo == UINT64_MAX) return absl::OkStatus();
  return Persist(changed_lo, changed_hi);
}

absl::Status DirtyBitmap::MarkAll() {
  if (regions_ == 0) return absl::OkStatus();
  return Mark(0, regions_ - 1);
}

absl::Status DirtyBitmap::Clear(uint64_t region) {
  if (!Test(region)) return absl::OkStatus();
  bits_[region / 8] &= static_cast<uint8_t>(~(1u << (region % 8)));
  --count_;
  return Persist(region / 8, region / 8);
}

absl::Status DirtyBitmap::ClearAll() {
  if (count_ == 0) return absl::OkStatus();
  std::fill(bits_.begin(), bits_.end(), 0);
  count_ = 0;
  return Persist(0, bits_.size() - 1);
}

absl::Status DirtyBitmap::Merge(const DirtyBitmap& other) {
  uint64_t n = std::min(regions_, other.regions_);
  for (uint64_t r = other.NextSet(0).value_or(n); r < n; r = other.NextSet(r + 1).value_or(n)) {
    if (absl::Status s = Mark(r, r); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status DirtyBitmap::Sync() {
  if (fdatasync(fd_) != 0) {
    return absl::InternalError(absl::StrCat("bitmap fdatasync: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

std::optional<uint64_t> DirtyBitmap::NextSet(uint64_t from) const {
  for (uint64_t byte = from / 8; byte < bits_.size(); ++byte) {
    uint8_t b = bits_[byte];
    if (byte == from / 8) b &= static_cast<uint8_t>(0xFFu << (from % 8));
    if (b) {
      uint64_t r = byte * 8 + std::countr_zero(b);
      if (r < regions_) return r;
      return std::nullopt;
    }
  }
  return std::nullopt;
}

}  // namespace syncblock::repl
