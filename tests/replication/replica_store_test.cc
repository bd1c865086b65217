// A replica's files (replication/store/replica_store.h): data IO, trim, zero,
// holes, checksums, resize, and the atomic manifest save.
#include "replication/store/replica_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "replication/util/crc32c.h"
#include "tests/support/test_util.h"

namespace syncblock::repl {
namespace {

using syncblock::testing::ReadFile;
using syncblock::testing::TempDir;
using syncblock::testing::WriteFile;

constexpr uint64_t kSize = 8 << 20;

Manifest MakeManifest(const std::string& id = "vol-1") {
  Manifest m;
  m.volume_id = id;
  m.size_bytes = kSize;
  m.epoch = 3;
  m.primary_node_id = "node-1";
  m.members = {{"node-1", "", "", "", ""}};
  m.data_generation = "g1";
  return m;
}

class ReplicaStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = ReplicaStore::Create(dir_.Join("vol-1"), MakeManifest());
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *std::move(s);
  }
  std::string ReadBack(uint64_t offset, size_t len) {
    std::string out(len, '?');
    EXPECT_TRUE(store_->Read(offset, out.data(), len).ok());
    return out;
  }
  uint64_t AllocatedBytes() {
    struct stat st{};
    stat(dir_.Join("vol-1/data").c_str(), &st);
    return static_cast<uint64_t>(st.st_blocks) * 512;
  }

  TempDir dir_;
  std::unique_ptr<ReplicaStore> store_;
};

TEST_F(ReplicaStoreTest, CreateMakesASparseDataFileAndAManifest) {
  EXPECT_EQ(std::filesystem::file_size(dir_.Join("vol-1/data")), kSize);
  EXPECT_EQ(AllocatedBytes(), 0u) << "sparse";
  EXPECT_TRUE(store_->IsHole(0, kSize));
  EXPECT_EQ(ReadBack(0, 4096), std::string(4096, '\0'));
  Manifest m;
  auto opened = ReplicaStore::Open(dir_.Join("vol-1"), &m);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(m.volume_id, "vol-1");
  EXPECT_EQ(m.epoch, 3u);
  EXPECT_EQ((*opened)->dir(), dir_.Join("vol-1"));
  EXPECT_EQ((*opened)->BitmapPath("peer-node-2"), dir_.Join("vol-1/peer-node-2.bitmap"));
}

TEST_F(ReplicaStoreTest, WriteThenReadBackAndAcrossReopen) {
  std::string data(100000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7 + 1);
  ASSERT_TRUE(store_->Write(12345, data.data(), data.size()).ok());
  ASSERT_TRUE(store_->Sync().ok());
  EXPECT_EQ(ReadBack(12345, data.size()), data);
  EXPECT_EQ(ReadBack(12340, 5), std::string(5, '\0'));
  store_.reset();
  Manifest m;
  auto s = ReplicaStore::Open(dir_.Join("vol-1"), &m);
  ASSERT_TRUE(s.ok());
  store_ = *std::move(s);
  EXPECT_EQ(ReadBack(12345, data.size()), data);
}

TEST_F(ReplicaStoreTest, ReadPastTheEndIsZeros) {
  ASSERT_TRUE(store_->Write(kSize - 3, "abc", 3).ok());
  EXPECT_EQ(ReadBack(kSize - 3, 8), std::string("abc\0\0\0\0\0", 8));
}

TEST_F(ReplicaStoreTest, TrimDeallocatesAndReadsZeros) {
  std::string data(1 << 20, 'x');
  ASSERT_TRUE(store_->Write(1 << 20, data.data(), data.size()).ok());
  EXPECT_FALSE(store_->IsHole(1 << 20, 1 << 20));
  EXPECT_GE(AllocatedBytes(), 1u << 20);
  ASSERT_TRUE(store_->Trim(1 << 20, 1 << 20).ok());
  EXPECT_TRUE(store_->IsHole(1 << 20, 1 << 20));
  EXPECT_EQ(ReadBack(1 << 20, 4096), std::string(4096, '\0'));
  EXPECT_LT(AllocatedBytes(), 1u << 20);
  EXPECT_EQ(std::filesystem::file_size(dir_.Join("vol-1/data")), kSize) << "size kept";
  EXPECT_TRUE(store_->Trim(0, 0).ok());
}

TEST_F(ReplicaStoreTest, PartialTrimZeroesOnlyItsRange) {
  std::string data(3 * 4096, 'y');
  ASSERT_TRUE(store_->Write(0, data.data(), data.size()).ok());
  ASSERT_TRUE(store_->Trim(4096, 4096).ok());
  EXPECT_EQ(ReadBack(0, 4096), std::string(4096, 'y'));
  EXPECT_EQ(ReadBack(4096, 4096), std::string(4096, '\0'));
  EXPECT_EQ(ReadBack(8192, 4096), std::string(4096, 'y'));
}

TEST_F(ReplicaStoreTest, ZeroWithAndWithoutAllocation) {
  std::string data(1 << 20, 'z');
  ASSERT_TRUE(store_->Write(0, data.data(), data.size()).ok());
  ASSERT_TRUE(store_->Write(2 << 20, data.data(), data.size()).ok());
  ASSERT_TRUE(store_->Zero(0, 1 << 20, /*allocate=*/true).ok());
  EXPECT_EQ(ReadBack(0, 1 << 20), std::string(1 << 20, '\0'));
  // NO_HOLE keeps the range allocated (ext4 and xfs keep it as unwritten
  // extents, which SEEK_DATA may report as a hole, so count blocks instead).
  EXPECT_GE(AllocatedBytes(), 2u << 20) << "both written MiB are still allocated";
  ASSERT_TRUE(store_->Zero(2 << 20, 1 << 20, /*allocate=*/false).ok());
  EXPECT_EQ(ReadBack(2 << 20, 1 << 20), std::string(1 << 20, '\0'));
  EXPECT_TRUE(store_->IsHole(2 << 20, 1 << 20));
  EXPECT_LT(AllocatedBytes(), 2u << 20) << "without NO_HOLE the range is deallocated";
  EXPECT_TRUE(store_->Zero(0, 0, true).ok());
}

TEST_F(ReplicaStoreTest, IsHoleSeesDataAnywhereInTheRange) {
  ASSERT_TRUE(store_->Write(5 << 20, "d", 1).ok());
  EXPECT_TRUE(store_->IsHole(0, 4 << 20));
  EXPECT_FALSE(store_->IsHole(4 << 20, 2 << 20));
  EXPECT_FALSE(store_->IsHole(0, kSize));
  EXPECT_TRUE(store_->IsHole(6 << 20, 2 << 20));
  EXPECT_TRUE(store_->IsHole(kSize + 4096, 4096)) << "past the end";
}

TEST_F(ReplicaStoreTest, ChecksumIsCrc32cOfTheRangeHoleOrNot) {
  std::vector<char> zeros(3 << 20, 0);
  auto hole = store_->Checksum(0, zeros.size());
  ASSERT_TRUE(hole.ok());
  EXPECT_EQ(*hole, Crc32c(zeros.data(), zeros.size()));

  std::string data(65536, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i % 251);
  ASSERT_TRUE(store_->Write(65536, data.data(), data.size()).ok());
  auto c = store_->Checksum(65536, 65536);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, Crc32c(data.data(), data.size()));
  // A range that is part data and part hole, larger than one read buffer.
  std::string expect(2 << 20, '\0');
  std::memcpy(expect.data() + 65536, data.data(), data.size());
  auto mixed = store_->Checksum(0, expect.size());
  ASSERT_TRUE(mixed.ok());
  EXPECT_EQ(*mixed, Crc32c(expect.data(), expect.size()));
  // An allocated range of zeros checksums like a hole of the same size.
  ASSERT_TRUE(store_->Zero(4 << 20, 65536, true).ok());
  EXPECT_EQ(*store_->Checksum(4 << 20, 65536), *store_->Checksum(6 << 20, 65536));
  EXPECT_NE(*store_->Checksum(65536, 65536), *store_->Checksum(6 << 20, 65536));
}

TEST_F(ReplicaStoreTest, ResizeGrowsWithZerosAndShrinks) {
  ASSERT_TRUE(store_->Write(kSize - 1, "e", 1).ok());
  ASSERT_TRUE(store_->Resize(2 * kSize).ok());
  EXPECT_EQ(std::filesystem::file_size(dir_.Join("vol-1/data")), 2 * kSize);
  EXPECT_EQ(ReadBack(kSize - 1, 2), std::string("e\0", 2));
  EXPECT_TRUE(store_->IsHole(kSize, kSize));
  ASSERT_TRUE(store_->Resize(4096).ok());
  EXPECT_EQ(std::filesystem::file_size(dir_.Join("vol-1/data")), 4096u);
}

TEST_F(ReplicaStoreTest, SaveManifestReplacesItAtomically) {
  Manifest m = MakeManifest();
  m.epoch = 9;
  m.primary_node_id = "node-7";
  ASSERT_TRUE(store_->SaveManifest(m).ok());
  EXPECT_FALSE(std::filesystem::exists(dir_.Join("vol-1/manifest.json.tmp")))
      << "no temporary file left behind";
  auto parsed = ManifestFromJson(ReadFile(dir_.Join("vol-1/manifest.json")));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->epoch, 9u);
  EXPECT_EQ(parsed->primary_node_id, "node-7");
  // A crash while writing leaves a stray temporary; the manifest in force is
  // still the last complete one, and the next save goes through.
  WriteFile(dir_.Join("vol-1/manifest.json.tmp"), "{\"half\":");
  Manifest opened;
  ASSERT_TRUE(ReplicaStore::Open(dir_.Join("vol-1"), &opened).ok());
  EXPECT_EQ(opened.epoch, 9u);
  m.epoch = 10;
  ASSERT_TRUE(store_->SaveManifest(m).ok());
  ASSERT_TRUE(ReplicaStore::Open(dir_.Join("vol-1"), &opened).ok());
  EXPECT_EQ(opened.epoch, 10u);
}

TEST_F(ReplicaStoreTest, SaveManifestFailureKeepsTheOldOne) {
  // A directory where the temporary file should go makes the save fail.
  std::filesystem::create_directory(dir_.Join("vol-1/manifest.json.tmp"));
  Manifest m = MakeManifest();
  m.epoch = 99;
  EXPECT_FALSE(store_->SaveManifest(m).ok());
  Manifest opened;
  ASSERT_TRUE(ReplicaStore::Open(dir_.Join("vol-1"), &opened).ok());
  EXPECT_EQ(opened.epoch, 3u);
}

TEST(ReplicaStoreOpenTest, MissingCorruptOrNewerManifests) {
  TempDir dir;
  Manifest m;
  EXPECT_EQ(ReplicaStore::Open(dir.Join("none"), &m).status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(ReplicaStore::Create(dir.Join("v"), MakeManifest("v")).ok());
  WriteFile(dir.Join("v/manifest.json"), "{ not json");
  auto corrupt = ReplicaStore::Open(dir.Join("v"), &m);
  EXPECT_EQ(corrupt.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(corrupt.status().message().find(dir.Join("v")), std::string::npos)
      << "the error names the replica: " << corrupt.status();
  Manifest newer = MakeManifest("v");
  newer.format_version = kManifestFormatVersion + 1;
  WriteFile(dir.Join("v/manifest.json"), ManifestToJson(newer));
  EXPECT_EQ(ReplicaStore::Open(dir.Join("v"), &m).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // A manifest without its data file.
  WriteFile(dir.Join("v/manifest.json"), ManifestToJson(MakeManifest("v")));
  std::filesystem::remove(dir.Join("v/data"));
  EXPECT_EQ(ReplicaStore::Open(dir.Join("v"), &m).status().code(), absl::StatusCode::kDataLoss);
}

TEST(ReplicaStoreOpenTest, DestroyRemovesEverything) {
  TempDir dir;
  ASSERT_TRUE(ReplicaStore::Create(dir.Join("v"), MakeManifest("v")).ok());
  WriteFile(dir.Join("v/peer-x.bitmap"), "bits");
  ASSERT_TRUE(ReplicaStore::Destroy(dir.Join("v")).ok());
  EXPECT_FALSE(std::filesystem::exists(dir.Join("v")));
  EXPECT_TRUE(ReplicaStore::Destroy(dir.Join("v")).ok()) << "destroying what is gone is fine";
}

TEST(ReplicaStoreOpenTest, CreateOverLeftoverDataStartsFromZeros) {
  // A replica directory whose deletion did not finish (a crash during
  // Destroy) still has its old data file. A replica created there is declared
  // identical to its freshly created peers (all zeros), so it must not keep
  // the old bytes.
  TempDir dir;
  {
    auto s = ReplicaStore::Create(dir.Join("v"), MakeManifest("v"));
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->Write(4096, "stale", 5).ok());
  }
  std::filesystem::remove(dir.Join("v/manifest.json"));
  auto s = ReplicaStore::Create(dir.Join("v"), MakeManifest("v"));
  ASSERT_TRUE(s.ok());
  std::string out(5, '?');
  ASSERT_TRUE((*s)->Read(4096, out.data(), out.size()).ok());
  EXPECT_EQ(out, std::string(5, '\0'));
}

}  // namespace
}  // namespace syncblock::repl
