// Data helpers for the CSI end-to-end tests (tests/integration/
// csi_e2e_test.cc): small gRPC/protobuf conveniences, files of
// random data checked with sha256sum, and seeded 1 MiB blocks written to and
// read from a block device with O_DIRECT (so they bypass the page cache).
//
// Thread-safety: free functions with no shared state.
#pragma once

#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "csi/node/mounter.h"
#include "csi/proto/csi.grpc.pb.h"
#include "tests/csi/node_test_util.h"
#include "tests/support/test_util.h"

namespace syncblock::csi {

inline constexpr int64_t kMiB = int64_t{1} << 20;

inline bool CanRun() {
  return geteuid() == 0 && std::filesystem::exists("/dev/fuse") &&
         std::filesystem::exists("/dev/loop-control") &&
         std::filesystem::exists(testing::SyncblockBinary()) &&
         testing::HaveTool("losetup") && testing::HaveTool("mkfs.xfs") &&
         testing::HaveTool("mkfs.ext4") && testing::HaveTool("sha256sum");
}

// The value of `key`, or "" (protobuf's Map::at aborts on a missing key).
inline std::string Get(const google::protobuf::Map<std::string, std::string>& map,
                       const std::string& key) {
  auto it = map.find(key);
  return it == map.end() ? "" : it->second;
}

inline std::string Describe(const grpc::Status& s) {
  return absl::StrCat("grpc code ", s.error_code(), ": ", s.error_message());
}

// The filesystem type mounted at `path`, "" when nothing is.
inline std::string MountFsType(const std::string& path) {
  std::string type;
  for (const auto& e : ParseMountInfo(testing::ReadFile("/proc/self/mountinfo"))) {
    if (e.mount_point == path) type = e.fstype;  // the last mount on it is the visible one
  }
  return type;
}

// `count` files of 1 MiB random data named PREFIX-NN, each fsynced, then the
// whole filesystem synced.
inline void WriteRandomFiles(const std::string& dir, const std::string& prefix, int count,
                             uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint64_t> words(kMiB / sizeof(uint64_t));
  for (int i = 0; i < count; ++i) {
    for (auto& w : words) w = rng();
    std::string path = absl::StrCat(dir, "/", prefix, "-", i);
    int fd = open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
    ASSERT_GE(fd, 0) << path << ": " << std::strerror(errno);
    ASSERT_EQ(write(fd, words.data(), kMiB), kMiB) << path << ": " << std::strerror(errno);
    ASSERT_EQ(fsync(fd), 0) << path << ": " << std::strerror(errno);
    close(fd);
  }
  ASSERT_EQ(testing::RunCommand("sync -f " + dir).exit_code, 0);
}

// Appends `sha256sum` lines of the files PREFIX-* in `dir` to `manifest`.
inline void RecordDigests(const std::string& dir, const std::string& prefix,
                          const std::string& manifest) {
  auto r = testing::RunCommand("cd " + dir + " && sha256sum " + prefix + "-* >> " + manifest);
  ASSERT_EQ(r.exit_code, 0) << r.output;
}

// Every file of `manifest` in `dir` has its recorded digest.
inline void ExpectDigests(const std::string& dir, const std::string& manifest, size_t files) {
  auto r = testing::RunCommand("cd " + dir + " && sha256sum --strict -c " + manifest);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  size_t ok = 0;
  for (size_t pos = 0; (pos = r.output.find(": OK\n", pos)) != std::string::npos; ++pos) ++ok;
  EXPECT_EQ(ok, files) << r.output;
}

// A 1 MiB block of bytes that depend on `seed`, aligned for O_DIRECT.
struct AlignedBlock {
  explicit AlignedBlock(uint64_t seed) {
    if (posix_memalign(&data, 4096, kMiB) != 0) std::abort();
    std::mt19937_64 rng(seed);
    auto* words = static_cast<uint64_t*>(data);
    for (size_t i = 0; i < kMiB / sizeof(uint64_t); ++i) words[i] = rng();
  }
  ~AlignedBlock() { free(data); }
  AlignedBlock(const AlignedBlock&) = delete;
  AlignedBlock& operator=(const AlignedBlock&) = delete;
  void* data = nullptr;
};

// Writes the block of seed `seed` at `offset` of the device with O_DIRECT
// and fsync, so it left the page cache for the volume.
inline void WriteDeviceBlock(const std::string& device, int64_t offset, uint64_t seed) {
  AlignedBlock block(seed);
  int fd = open(device.c_str(), O_WRONLY | O_DIRECT);
  ASSERT_GE(fd, 0) << device << ": " << std::strerror(errno);
  EXPECT_EQ(pwrite(fd, block.data, kMiB, offset), kMiB) << std::strerror(errno);
  EXPECT_EQ(fsync(fd), 0) << std::strerror(errno);
  close(fd);
}

inline void ExpectDeviceBlock(const std::string& device, int64_t offset, uint64_t seed) {
  AlignedBlock want(seed);
  AlignedBlock got(0);
  int fd = open(device.c_str(), O_RDONLY | O_DIRECT);
  ASSERT_GE(fd, 0) << device << ": " << std::strerror(errno);
  EXPECT_EQ(pread(fd, got.data, kMiB, offset), kMiB) << std::strerror(errno);
  close(fd);
  EXPECT_EQ(std::memcmp(want.data, got.data, kMiB), 0)
      << "block at offset " << offset << " (seed " << seed << ") differs";
}

}  // namespace syncblock::csi
