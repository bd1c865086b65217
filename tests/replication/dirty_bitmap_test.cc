// The persistent dirty bitmap (replication/store/dirty_bitmap.h): marks
// survive reopening, a grown volume extends the file with clear bits, a
// shrunk one drops the bits past its end, and a corrupt file is DATA_LOSS.
#include "replication/store/dirty_bitmap.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "replication/util/crc32c.h"
#include "tests/support/test_util.h"

namespace syncblock::repl {
namespace {

using syncblock::testing::ReadFile;
using syncblock::testing::TempDir;
using syncblock::testing::WriteFile;

std::vector<uint64_t> SetRegions(const DirtyBitmap& bm) {
  std::vector<uint64_t> out;
  for (auto r = bm.NextSet(0); r; r = bm.NextSet(*r + 1)) out.push_back(*r);
  return out;
}

std::unique_ptr<DirtyBitmap> OpenOrDie(const std::string& path, uint64_t regions) {
  auto bm = DirtyBitmap::Open(path, regions);
  EXPECT_TRUE(bm.ok()) << bm.status();
  return bm.ok() ? *std::move(bm) : nullptr;
}

TEST(DirtyBitmapTest, NewFileIsClearWithHeaderAndOneBitPerRegion) {
  TempDir dir;
  std::string path = dir.Join("peer.bitmap");
  auto bm = OpenOrDie(path, 100);
  ASSERT_NE(bm, nullptr);
  EXPECT_EQ(bm->regions(), 100u);
  EXPECT_EQ(bm->count(), 0u);
  EXPECT_FALSE(bm->NextSet(0).has_value());
  EXPECT_EQ(std::filesystem::file_size(path), 64u + 13u);
}

TEST(DirtyBitmapTest, MarkClearAndNextSet) {
  TempDir dir;
  auto bm = OpenOrDie(dir.Join("b"), 1000);
  ASSERT_NE(bm, nullptr);
  ASSERT_TRUE(bm->Mark(3, 3).ok());
  ASSERT_TRUE(bm->Mark(7, 17).ok());
  ASSERT_TRUE(bm->Mark(10, 12).ok());  // already set: no change in count
  EXPECT_EQ(bm->count(), 12u);
  EXPECT_TRUE(bm->Test(3));
  EXPECT_FALSE(bm->Test(4));
  EXPECT_TRUE(bm->Test(17));
  EXPECT_FALSE(bm->Test(18));
  EXPECT_FALSE(bm->Test(5000)) << "past the end reads clear";
  EXPECT_EQ(bm->NextSet(0), 3u);
  EXPECT_EQ(bm->NextSet(4), 7u);
  EXPECT_EQ(bm->NextSet(17), 17u);
  EXPECT_FALSE(bm->NextSet(18).has_value());
  ASSERT_TRUE(bm->Clear(7).ok());
  ASSERT_TRUE(bm->Clear(7).ok());  // clearing a clear bit is a no-op
  ASSERT_TRUE(bm->Clear(99999).ok());
  EXPECT_EQ(bm->count(), 11u);
  EXPECT_EQ(bm->NextSet(4), 8u);
  ASSERT_TRUE(bm->ClearAll().ok());
  EXPECT_EQ(bm->count(), 0u);
  EXPECT_FALSE(bm->NextSet(0).has_value());
}

TEST(DirtyBitmapTest, MarkClampsToTheVolume) {
  TempDir dir;
  auto bm = OpenOrDie(dir.Join("b"), 10);
  ASSERT_NE(bm, nullptr);
  ASSERT_TRUE(bm->Mark(8, 1000).ok());
  EXPECT_EQ(bm->count(), 2u);
  EXPECT_EQ(SetRegions(*bm), (std::vector<uint64_t>{8, 9}));
  ASSERT_TRUE(bm->Mark(50, 60).ok());
  ASSERT_TRUE(bm->Mark(5, 4).ok());  // empty range
  EXPECT_EQ(bm->count(), 2u);
  ASSERT_TRUE(bm->MarkAll().ok());
  EXPECT_EQ(bm->count(), 10u);
  EXPECT_FALSE(bm->NextSet(10).has_value()) << "no phantom bits past the end";
}

TEST(DirtyBitmapTest, MarksSurviveReopen) {
  TempDir dir;
  std::string path = dir.Join("b");
  {
    auto bm = OpenOrDie(path, 5000);
    ASSERT_NE(bm, nullptr);
    ASSERT_TRUE(bm->Mark(0, 0).ok());
    ASSERT_TRUE(bm->Mark(1234, 1300).ok());
    ASSERT_TRUE(bm->Mark(4999, 4999).ok());
    ASSERT_TRUE(bm->Clear(1250).ok());
  }
  auto bm = OpenOrDie(path, 5000);
  ASSERT_NE(bm, nullptr);
  EXPECT_EQ(bm->count(), 1u + 66u + 1u);
  EXPECT_TRUE(bm->Test(0));
  EXPECT_TRUE(bm->Test(1234));
  EXPECT_FALSE(bm->Test(1250));
  EXPECT_TRUE(bm->Test(1300));
  EXPECT_TRUE(bm->Test(4999));
  EXPECT_FALSE(bm->Test(1301));
}

TEST(DirtyBitmapTest, MarksReachTheFileBeforeTheProcessDies) {
  // A child marks and is killed without running any destructor: the marks
  // must already be in the file (page cache), as the activity log relies on.
  TempDir dir;
  std::string path = dir.Join("b");
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto bm = DirtyBitmap::Open(path, 64);
    if (!bm.ok() || !(*bm)->Mark(5, 9).ok()) _exit(1);
    _exit(0);  // no destructors, no close
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  auto bm = OpenOrDie(path, 64);
  ASSERT_NE(bm, nullptr);
  EXPECT_EQ(SetRegions(*bm), (std::vector<uint64_t>{5, 6, 7, 8, 9}));
}

TEST(DirtyBitmapTest, GrowingTheVolumeKeepsMarksAndAddsClearRegions) {
  TempDir dir;
  std::string path = dir.Join("b");
  {
    auto bm = OpenOrDie(path, 13);
    ASSERT_NE(bm, nullptr);
    ASSERT_TRUE(bm->Mark(2, 2).ok());
    ASSERT_TRUE(bm->Mark(12, 12).ok());
  }
  {
    auto bm = OpenOrDie(path, 1000);
    ASSERT_NE(bm, nullptr);
    EXPECT_EQ(bm->regions(), 1000u);
    EXPECT_EQ(SetRegions(*bm), (std::vector<uint64_t>{2, 12}));
    ASSERT_TRUE(bm->Mark(999, 999).ok());
  }
  EXPECT_EQ(std::filesystem::file_size(path), 64u + 125u);
  auto bm = OpenOrDie(path, 1000);
  ASSERT_NE(bm, nullptr);
  EXPECT_EQ(SetRegions(*bm), (std::vector<uint64_t>{2, 12, 999}));
}

TEST(DirtyBitmapTest, ShrinkingDropsRegionsPastTheEnd) {
  TempDir dir;
  std::string path = dir.Join("b");
  {
    auto bm = OpenOrDie(path, 64);
    ASSERT_NE(bm, nullptr);
    ASSERT_TRUE(bm->MarkAll().ok());
  }
  {
    auto bm = OpenOrDie(path, 10);
    ASSERT_NE(bm, nullptr);
    EXPECT_EQ(bm->count(), 10u);
    EXPECT_FALSE(bm->NextSet(10).has_value());
  }
  // Growing back does not resurrect the dropped marks.
  auto bm = OpenOrDie(path, 64);
  ASSERT_NE(bm, nullptr);
  EXPECT_EQ(bm->count(), 10u);
  EXPECT_FALSE(bm->Test(10));
  EXPECT_FALSE(bm->Test(63));
}

TEST(DirtyBitmapTest, MergeSetsTheOthersBits) {
  TempDir dir;
  auto a = OpenOrDie(dir.Join("a"), 100);
  auto b = OpenOrDie(dir.Join("b"), 100);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(a->Mark(1, 2).ok());
  ASSERT_TRUE(b->Mark(2, 4).ok());
  ASSERT_TRUE(b->Mark(99, 99).ok());
  ASSERT_TRUE(a->Merge(*b).ok());
  EXPECT_EQ(SetRegions(*a), (std::vector<uint64_t>{1, 2, 3, 4, 99}));
  EXPECT_EQ(a->count(), 5u);
  EXPECT_EQ(b->count(), 4u) << "the source is unchanged";
  a.reset();
  auto again = OpenOrDie(dir.Join("a"), 100);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(SetRegions(*again), (std::vector<uint64_t>{1, 2, 3, 4, 99}));
}

TEST(DirtyBitmapTest, ZeroRegionsIsHarmless) {
  TempDir dir;
  auto bm = OpenOrDie(dir.Join("b"), 0);
  ASSERT_NE(bm, nullptr);
  EXPECT_TRUE(bm->MarkAll().ok());
  EXPECT_TRUE(bm->Mark(0, 5).ok());
  EXPECT_TRUE(bm->ClearAll().ok());
  EXPECT_EQ(bm->count(), 0u);
  EXPECT_FALSE(bm->NextSet(0).has_value());
}

TEST(DirtyBitmapTest, CorruptFilesAreDataLoss) {
  TempDir dir;
  std::string path = dir.Join("b");
  {
    auto bm = OpenOrDie(path, 100);
    ASSERT_NE(bm, nullptr);
    ASSERT_TRUE(bm->Mark(1, 1).ok());
  }
  const std::string good = ReadFile(path);
  ASSERT_EQ(good.size(), 64u + 13u);

  auto expect_data_loss = [&](const std::string& content, const char* what) {
    WriteFile(path, content);
    auto bm = DirtyBitmap::Open(path, 100);
    EXPECT_EQ(bm.status().code(), absl::StatusCode::kDataLoss) << what;
  };
  std::string bad_magic = good;
  bad_magic[0] ^= 0x55;
  expect_data_loss(bad_magic, "bad magic");
  std::string bad_count = good;
  bad_count[8] ^= 0x01;  // regions field, covered by the header CRC
  expect_data_loss(bad_count, "header checksum");
  expect_data_loss(good.substr(0, 30), "short header");
  expect_data_loss(good.substr(0, 70), "bits cut short");
  expect_data_loss(std::string(200, 'x'), "garbage");
}

TEST(DirtyBitmapTest, NewerVersionIsRefused) {
  TempDir dir;
  std::string path = dir.Join("b");
  { ASSERT_NE(OpenOrDie(path, 8), nullptr); }
  std::string content = ReadFile(path);
  uint32_t version = 2;
  std::memcpy(content.data() + 4, &version, 4);
  // Re-seal the header CRC (bytes 0..15) so that only the version is wrong.
  uint32_t crc = Crc32c(content.data(), 16);
  std::memcpy(content.data() + 16, &crc, 4);
  WriteFile(path, content);
  auto bm = DirtyBitmap::Open(path, 8);
  EXPECT_EQ(bm.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(bm.status().message().find("version"), std::string::npos) << bm.status();
}

TEST(DirtyBitmapTest, UnopenablePathIsAnError) {
  TempDir dir;
  auto bm = DirtyBitmap::Open(dir.Join("no/such/dir/b"), 8);
  EXPECT_FALSE(bm.ok());
}

}  // namespace
}  // namespace syncblock::repl
