// Snapshots in the replica store (replication/store/layered_snapshot_chain.h):
// point-in-time reads against an in-memory model of the volume, deletes that
// merge layers and free space, changed regions, materialized copies, errors.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "replication/store/layered_snapshot_chain.h"
#include "replication/store/replica_store.h"
#include "replication/util/crc32c.h"
#include "tests/replication/snapshot_test_util.h"
#include "tests/support/test_util.h"

namespace syncblock::repl {
namespace {

using syncblock::testing::TempDir;

constexpr uint64_t kSize = 64 * kRegion;  // 4 MiB

// Bytes allocated by every file under `dir` (what `du` counts).
uint64_t AllocatedUnder(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  if (!std::filesystem::exists(dir)) return 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec)) {
    struct stat st{};
    if (stat(e.path().c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      total += static_cast<uint64_t>(st.st_blocks) * 512;
    }
  }
  return total;
}

class SnapshotChainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = ReplicaStore::Create(dir_.Join("vol-1"), MakeManifest(kSize));
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *std::move(s);
    model_.assign(kSize, '\0');
  }
  SnapshotChain& chain() { return store_->snapshots(); }
  LayeredSnapshotChain& layered() { return static_cast<LayeredSnapshotChain&>(chain()); }

  std::string ReadSnap(const std::string& name, uint64_t off = 0, size_t len = kSize) {
    std::string out(len, '?');
    absl::Status s = chain().Read(name, off, out.data(), len);
    EXPECT_TRUE(s.ok()) << s;
    return out;
  }
  std::string ReadLive() {
    std::string out(kSize, '?');
    EXPECT_TRUE(store_->Read(0, out.data(), kSize).ok());
    return out;
  }
  void Write(uint64_t off, const std::string& data) {
    ASSERT_TRUE(store_->Write(off, data.data(), data.size()).ok());
    model_.replace(off, data.size(), data);
    Touch(off, data.size());
  }
  void Touch(uint64_t off, uint64_t len) {
    for (uint64_t r = off / kRegion; r <= (off + len - 1) / kRegion; ++r) touched_.insert(r);
  }
  // One random write, trim or zero of 1 byte to 3 regions, anywhere.
  void RandomOp(std::mt19937_64& rng) {
    uint64_t len = 1 + rng() % (3 * kRegion);
    uint64_t off = rng() % (kSize - len);
    switch (rng() % 4) {
      case 0:
        ASSERT_TRUE(store_->Trim(off, len).ok());
        model_.replace(off, len, std::string(len, '\0'));
        Touch(off, len);
        break;
      case 1: {
        bool allocate = rng() % 2;
        ASSERT_TRUE(store_->Zero(off, len, allocate).ok());
        model_.replace(off, len, std::string(len, '\0'));
        Touch(off, len);
        break;
      }
      default: {
        std::string data(len, '\0');
        for (auto& c : data) c = static_cast<char>('a' + rng() % 26);
        Write(off, data);
      }
    }
  }
  std::vector<uint64_t> TakeTouched() {
    std::vector<uint64_t> out(touched_.begin(), touched_.end());
    touched_.clear();
    return out;
  }

  TempDir dir_;
  std::unique_ptr<ReplicaStore> store_;
  std::string model_;
  std::set<uint64_t> touched_;
};

TEST_F(SnapshotChainTest, SnapshotKeepsOldDataWhileLiveChanges) {
  Write(0, std::string(kRegion, 'A'));
  Write(5 * kRegion + 100, "hello");
  ASSERT_TRUE(chain().Create(Rec("s1", kSize)).ok());
  std::string before = model_;
  Write(0, std::string(kRegion + 7, 'B'));
  Write(5 * kRegion + 100, "HELLO");
  Write(9 * kRegion, "fresh");  // a hole at the cut
  EXPECT_EQ(ReadSnap("s1"), before);
  EXPECT_EQ(ReadLive(), model_);
  auto crc = chain().Checksum("s1", 0, kRegion);
  ASSERT_TRUE(crc.ok());
  EXPECT_EQ(*crc, Crc32c(before.data(), kRegion));
  EXPECT_NE(*crc, *store_->Checksum(0, kRegion));
  EXPECT_TRUE(chain().IsHole("s1", 9 * kRegion, kRegion));
  EXPECT_FALSE(chain().IsHole("s1", 0, kRegion));
}

TEST_F(SnapshotChainTest, EachSnapshotReadsItsPointInTimeAndChangedIsExact) {
  std::mt19937_64 rng(42);
  std::vector<std::string> names = {"s1", "s2", "s3"};
  std::map<std::string, std::string> at;
  std::map<std::string, std::vector<uint64_t>> touched_after;
  for (int i = 0; i < 40; ++i) RandomOp(rng);
  TakeTouched();
  for (const auto& n : names) {
    ASSERT_TRUE(chain().Create(Rec(n, kSize)).ok());
    at[n] = model_;
    for (int i = 0; i < 25; ++i) RandomOp(rng);
    touched_after[n] = TakeTouched();
  }
  for (const auto& n : names) EXPECT_EQ(ReadSnap(n), at[n]) << n;
  EXPECT_EQ(ReadLive(), model_);

  auto c12 = chain().Changed("s1", "s2");
  ASSERT_TRUE(c12.ok()) << c12.status();
  EXPECT_TRUE(c12->exact);
  EXPECT_EQ(c12->region_size, kRegion);
  EXPECT_EQ(c12->regions, touched_after["s1"]);
  auto c3 = chain().Changed("s3", "");
  ASSERT_TRUE(c3.ok());
  EXPECT_EQ(c3->regions, touched_after["s3"]);
  std::set<uint64_t> u;
  for (const auto& n : names) u.insert(touched_after[n].begin(), touched_after[n].end());
  auto c1live = chain().Changed("s1", "");
  ASSERT_TRUE(c1live.ok());
  EXPECT_EQ(c1live->regions, std::vector<uint64_t>(u.begin(), u.end()));
  EXPECT_EQ(chain().Changed("s3", "s1").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(chain().Changed("nope", "").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(chain().Changed("s1", "nope").status().code(), absl::StatusCode::kNotFound);
}

// Deleting each position of a three-layer chain: the others keep their
// contents, and the deleted layer's files and blocks go away.
class SnapshotDeleteTest : public SnapshotChainTest,
                           public ::testing::WithParamInterface<std::string> {};

TEST_P(SnapshotDeleteTest, OthersStillReadRightAndSpaceIsFreed) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 30; ++i) RandomOp(rng);
  std::map<std::string, std::string> at;
  for (const std::string n : {"s1", "s2", "s3"}) {
    ASSERT_TRUE(chain().Create(Rec(n, kSize)).ok());
    at[n] = model_;
    for (int i = 0; i < 20; ++i) RandomOp(rng);
  }
  std::string doomed = GetParam();
  std::string snaps = dir_.Join("vol-1/snapshots");
  uint64_t layer_bytes = AllocatedUnder(snaps + "/" + doomed);
  ASSERT_GT(layer_bytes, 0u);
  uint64_t before = AllocatedUnder(snaps);

  ASSERT_TRUE(chain().Delete(doomed).ok());
  EXPECT_EQ(chain().Get(doomed).status().code(), absl::StatusCode::kNotFound);
  std::string buf(10, '\0');
  EXPECT_EQ(chain().Read(doomed, 0, buf.data(), buf.size()).code(),
            absl::StatusCode::kNotFound);
  // Writes keep going while the merge runs.
  for (int i = 0; i < 10; ++i) RandomOp(rng);
  layered().WaitForMerges();

  EXPECT_FALSE(std::filesystem::exists(snaps + "/" + doomed));
  EXPECT_LT(AllocatedUnder(snaps), before) << "the layer's blocks are freed";
  for (const auto& [n, data] : at) {
    if (n != doomed) {
      EXPECT_EQ(ReadSnap(n), data) << n;
    }
  }
  EXPECT_EQ(ReadLive(), model_);
  std::vector<std::string> listed;
  for (const auto& r : chain().List()) listed.push_back(r.name);
  EXPECT_EQ(listed.size(), 2u);
  EXPECT_TRUE(chain().Delete(doomed).ok()) << "idempotent";
}

INSTANTIATE_TEST_SUITE_P(SnapshotLayers, SnapshotDeleteTest, ::testing::Values("s1", "s2", "s3"));

TEST_F(SnapshotChainTest, DeletingEveryLayerLeavesTheIoPathClean) {
  Write(0, std::string(kRegion, 'x'));
  ASSERT_TRUE(chain().Create(Rec("a", kSize)).ok());
  Write(0, std::string(kRegion, 'y'));
  ASSERT_TRUE(chain().Delete("a").ok());
  layered().WaitForMerges();
  EXPECT_TRUE(chain().List().empty());
  Write(kRegion, "after");
  EXPECT_EQ(ReadLive(), model_);
  std::vector<std::string> left;
  for (const auto& e : std::filesystem::directory_iterator(dir_.Join("vol-1/snapshots"))) {
    left.push_back(e.path().filename());
  }
  EXPECT_EQ(left, std::vector<std::string>{"index.json"});
  ASSERT_TRUE(chain().Create(Rec("a", kSize)).ok()) << "the name is free again";
}

TEST_F(SnapshotChainTest, ChangedCoversAGrownVolume) {
  Write(0, "x");
  ASSERT_TRUE(chain().Create(Rec("small", kSize)).ok());
  ASSERT_TRUE(store_->Resize(2 * kSize).ok());
  std::string grown = "grown";
  ASSERT_TRUE(store_->Write(kSize + 3 * kRegion, grown.data(), grown.size()).ok());
  Write(2 * kRegion, "y");
  auto c = chain().Changed("small", "");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->regions, (std::vector<uint64_t>{2, 64 + 3}));
  std::string out(kSize, '\0');
  EXPECT_EQ(ReadSnap("small"), std::string("x") + std::string(kSize - 1, '\0'));
  EXPECT_EQ(chain().Read("small", kSize - 1, out.data(), 2).code(),
            absl::StatusCode::kOutOfRange);
  // A snapshot of the grown volume has its own size.
  ASSERT_TRUE(chain().Create(Rec("big", 2 * kSize)).ok());
  ASSERT_TRUE(store_->Write(kSize + 3 * kRegion, "G", 1).ok());
  EXPECT_EQ(ReadSnap("big", kSize + 3 * kRegion, grown.size()), grown);
}

TEST_F(SnapshotChainTest, MaterializedCopyIsFilledCompletedAndRead) {
  SnapshotRecord r = Rec("copy", kSize);
  r.materialized = true;
  r.complete = false;
  ASSERT_TRUE(chain().CreateMaterialized(r).ok());
  std::string buf(4, '\0');
  EXPECT_EQ(chain().Read("copy", 0, buf.data(), 4).code(),
            absl::StatusCode::kFailedPrecondition);
  std::string data(kRegion, 'm');
  ASSERT_TRUE(chain().WriteMaterialized("copy", 2 * kRegion, data.data(), data.size()).ok());
  // Zeros written over bytes (a resent range) read back as zeros, and as a hole.
  std::string zeros(kRegion, '\0');
  ASSERT_TRUE(chain().WriteMaterialized("copy", 4 * kRegion, data.data(), data.size()).ok());
  ASSERT_TRUE(chain().WriteMaterialized("copy", 4 * kRegion, zeros.data(), zeros.size()).ok());
  EXPECT_EQ(chain().WriteMaterialized("copy", kSize - 1, "ab", 2).code(),
            absl::StatusCode::kOutOfRange);
  ASSERT_TRUE(chain().CompleteMaterialized("copy").ok());
  EXPECT_EQ(chain().WriteMaterialized("copy", 0, "z", 1).code(),
            absl::StatusCode::kFailedPrecondition);
  auto g = chain().Get("copy");
  ASSERT_TRUE(g.ok());
  EXPECT_TRUE(g->materialized);
  EXPECT_TRUE(g->complete);
  std::string expect(kSize, '\0');
  expect.replace(2 * kRegion, kRegion, data);
  EXPECT_EQ(ReadSnap("copy"), expect);
  // Live writes neither preserve into it nor change it.
  Write(2 * kRegion, std::string(kRegion, 'L'));
  EXPECT_EQ(ReadSnap("copy"), expect);
  EXPECT_TRUE(chain().IsHole("copy", 0, kRegion));
  EXPECT_TRUE(chain().IsHole("copy", 4 * kRegion, kRegion));
  // Against the live volume it is compared by contents.
  auto c = chain().Changed("copy", "");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->exact);
  EXPECT_EQ(c->regions, (std::vector<uint64_t>{2}));
  ASSERT_TRUE(chain().Delete("copy").ok());
  layered().WaitForMerges();
  EXPECT_FALSE(std::filesystem::exists(dir_.Join("vol-1/snapshots/copy")));
}

TEST_F(SnapshotChainTest, RefusesBadNamesDuplicatesAndReadsPastTheEnd) {
  for (const std::string& bad :
       std::vector<std::string>{"", ".hidden", "a/b", "a@b", std::string(129, 'x'), ".."}) {
    EXPECT_EQ(chain().Create(Rec(bad, kSize)).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_TRUE(chain().Create(Rec(std::string(128, 'x'), kSize)).ok());
  ASSERT_TRUE(chain().Create(Rec("s.1_-A", kSize)).ok());
  EXPECT_EQ(chain().Create(Rec("s.1_-A", kSize)).code(), absl::StatusCode::kAlreadyExists);
  SnapshotRecord m = Rec("s.1_-A", kSize);
  EXPECT_EQ(chain().CreateMaterialized(m).code(), absl::StatusCode::kAlreadyExists);
  std::string buf(2, '\0');
  EXPECT_EQ(chain().Read("s.1_-A", kSize - 1, buf.data(), 2).code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(chain().Read("missing", 0, buf.data(), 2).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(chain().Checksum("missing", 0, 2).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(chain().Get("missing").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(chain().Delete("missing").ok());
  auto list = chain().List();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[1].name, "s.1_-A");
  EXPECT_EQ(list[1].size_bytes, kSize);
  EXPECT_GT(list[1].created_unix_ms, 0);
}

}  // namespace
}  // namespace syncblock::repl
