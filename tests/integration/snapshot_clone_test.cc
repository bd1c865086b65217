// Snapshots and clones through `syncblock ctl` on a real three-node local
// cluster, with real NBD clients: a snapshot taken under a running writer
// holds exactly what was acknowledged before it was asked for; clones from a
// snapshot and from a volume, larger than their source; the error cases.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <vector>

#include "tests/support/local_cluster.h"
#include "tests/support/test_util.h"

namespace syncblock::testing {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

constexpr uint64_t kBlock = 64 * 1024;

class SnapshotCloneTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { cluster_ = new LocalCluster(3); }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(cluster_->ok()) << cluster_->up_output();
    if (!HaveTool("qemu-io") || !HaveTool("nbdcopy")) GTEST_SKIP() << "needs qemu-io and nbdcopy";
  }

  static const LocalCluster& C() { return *cluster_; }

  static void Write(const std::string& volume, int pattern, uint64_t offset, uint64_t len) {
    auto w = RunCommand("qemu-io -f raw -c 'write -P " + std::to_string(pattern) + " " +
                            std::to_string(offset) + " " + std::to_string(len) + "' " +
                            C().Export(volume),
                        std::chrono::seconds(60));
    ASSERT_EQ(w.exit_code, 0) << w.output;
  }
  // The volume's bytes as an NBD client reads them from its primary.
  static std::string ReadAll(const std::string& volume, const TempDir& tmp) {
    std::string file = tmp.Join(volume + ".img");
    auto r = RunCommand("nbdcopy '" + C().Export(volume) + "' " + file, std::chrono::seconds(120));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return ReadFile(file);
  }
  static bool Filled(const std::string& data, uint64_t offset, uint64_t len, int pattern) {
    if (offset + len > data.size()) return false;
    for (uint64_t i = offset; i < offset + len; ++i) {
      if (static_cast<unsigned char>(data[i]) != pattern) return false;
    }
    return true;
  }
  static void ExpectVerified(const std::string& volume) {
    ASSERT_TRUE(C().WaitInSync(volume)) << volume << " never in sync";
    auto v = C().Ctl("verify " + volume);
    EXPECT_EQ(v.exit_code, 0) << v.output;
    EXPECT_THAT(v.output, HasSubstr("identical"));
  }

  static LocalCluster* cluster_;
};

LocalCluster* SnapshotCloneTest::cluster_ = nullptr;

// The writer's sequence: pass 0 writes block b with pattern 1 + b % 200, pass 1
// overwrites every block with 0xEE. Write number j is pass j / N, block j % N.
int PatternOf(size_t j, size_t blocks) { return j < blocks ? 1 + static_cast<int>(j % 200) : 0xEE; }

size_t CompleteLines(const std::string& path) {
  std::string text = ReadFile(path);
  size_t n = 0;
  for (char c : text) n += c == '\n';
  return n;
}

TEST_F(SnapshotCloneTest, SnapshotUnderWriterHoldsExactlyWhatWasAcknowledgedBeforeIt) {
  constexpr size_t kBlocks = 96;
  ASSERT_EQ(C().Ctl("volume create src --size 16M --replicas 3").exit_code, 0);
  ASSERT_TRUE(C().WaitInSync("src"));
  const std::string uri = C().Export("src");
  TempDir tmp;
  const std::string log = tmp.Join("acks");
  // One qemu-io per write: the line "ack J" is logged only after write J was
  // acknowledged, and write J+1 starts only after that.
  std::ostringstream script;
  script << "j=0; for pass in 0 1; do for b in $(seq 0 " << kBlocks - 1 << "); do "
         << "if [ $pass = 0 ]; then p=$((1 + b % 200)); else p=238; fi; "
         << "qemu-io -f raw -c \"write -P $p $((b * " << kBlock << ")) " << kBlock << "\" '" << uri
         << "' >/dev/null || exit 1; echo ack $j >> " << log << "; j=$((j + 1)); "
         << "done; done";
  WriteFile(tmp.Join("writer.sh"), WithNbdTls(script.str()));
  Subprocess writer({"/bin/sh", tmp.Join("writer.sh")}, tmp.Join("writer.log"));
  ASSERT_TRUE(WaitFor([&] { return CompleteLines(log) >= kBlocks / 2; }, std::chrono::seconds(120)))
      << Tail(tmp.Join("writer.log"));

  const size_t acked_before = CompleteLines(log);
  auto snap = C().CtlJson("snapshot create src mid");
  const size_t acked_after = CompleteLines(log);
  ASSERT_FALSE(snap.is_null());
  EXPECT_EQ(snap["id"], "src@mid");
  EXPECT_EQ(snap["ready_to_use"], true);
  EXPECT_EQ(writer.Wait(), 0) << Tail(tmp.Join("writer.log"));
  ASSERT_EQ(CompleteLines(log), 2 * kBlocks);

  ASSERT_EQ(C().Ctl("volume create mid-clone --from-snapshot src@mid --replicas 3").exit_code, 0);
  std::string clone = ReadAll("mid-clone", tmp);
  ASSERT_EQ(clone.size(), 16u << 20);
  // Writes numbered below acked_before were acknowledged before the request:
  // in the snapshot. Writes numbered above acked_after started after the
  // answer: not in it. The ones between were in flight: either.
  // Blocks whose content the acknowledgements pin down: written before the
  // request, and not yet written when it was answered. Both kinds must be
  // there, or the check would prove little.
  size_t certain_written = 0;
  size_t certain_zero = 0;
  for (size_t b = 0; b < kBlocks; ++b) {
    std::set<int> allowed;
    int before = 0;  // never written: zeros
    bool in_flight = false;
    for (size_t j = b; j < 2 * kBlocks; j += kBlocks) {
      if (j < acked_before) {
        before = PatternOf(j, kBlocks);
      } else if (j <= acked_after) {
        in_flight = true;
        allowed.insert(PatternOf(j, kBlocks));
      }
    }
    allowed.insert(before);
    bool ok = false;
    for (int p : allowed) ok |= Filled(clone, b * kBlock, kBlock, p);
    EXPECT_TRUE(ok) << "block " << b << " (acked before: " << acked_before
                    << ", after: " << acked_after << ", expected " << before << ")";
    if (!in_flight) (before == 0 ? certain_zero : certain_written)++;
  }
  EXPECT_GE(certain_written, kBlocks / 4);
  EXPECT_GE(certain_zero, kBlocks / 4);
  EXPECT_TRUE(Filled(clone, kBlocks * kBlock, clone.size() - kBlocks * kBlock, 0));
  // The live volume moved on.
  std::string live = ReadAll("src", tmp);
  EXPECT_TRUE(Filled(live, 0, kBlocks * kBlock, 0xEE));

  ExpectVerified("mid-clone");
  auto sv = C().Ctl("snapshot verify src@mid");
  EXPECT_EQ(sv.exit_code, 0) << sv.output;
}

TEST_F(SnapshotCloneTest, CloneFromVolumeAndLargerThanSource) {
  ASSERT_EQ(C().Ctl("volume create orig --size 8M --replicas 3").exit_code, 0);
  ASSERT_TRUE(C().WaitInSync("orig"));
  Write("orig", 0x5a, 0, 1 << 20);
  Write("orig", 0x6b, 7 << 20, 1 << 20);

  auto made = C().CtlJson("volume create copy --size 12M --replicas 3 --from-volume orig");
  ASSERT_FALSE(made.is_null());
  EXPECT_EQ(made["size_bytes"], 12u << 20);
  // The temporary snapshot is gone, so the source can be deleted again.
  auto snaps = C().CtlJson("snapshot list orig");
  ASSERT_TRUE(snaps.is_array());
  EXPECT_TRUE(snaps.empty()) << snaps.dump();

  Write("orig", 0x11, 0, 1 << 20);  // independent of its source
  TempDir tmp;
  std::string copy = ReadAll("copy", tmp);
  ASSERT_EQ(copy.size(), 12u << 20);
  EXPECT_TRUE(Filled(copy, 0, 1 << 20, 0x5a));
  EXPECT_TRUE(Filled(copy, 1 << 20, 6 << 20, 0));
  EXPECT_TRUE(Filled(copy, 7 << 20, 1 << 20, 0x6b));
  EXPECT_TRUE(Filled(copy, 8 << 20, 4 << 20, 0));  // beyond the source: zeros
  ExpectVerified("copy");

  // The same request again is the same volume; another source is not.
  EXPECT_EQ(C().Ctl("volume create copy --size 12M --replicas 3 --from-volume orig").exit_code, 0);
  auto other = C().Ctl("volume create copy --size 12M --replicas 3");
  EXPECT_EQ(other.exit_code, 1) << other.output;
  EXPECT_THAT(other.output, HasSubstr("already exists"));
  EXPECT_EQ(C().Ctl("volume delete orig").exit_code, 0);
  EXPECT_EQ(C().Ctl("volume delete copy").exit_code, 0);
}

TEST_F(SnapshotCloneTest, CloneErrors) {
  ASSERT_EQ(C().Ctl("volume create small --size 4M --replicas 2").exit_code, 0);
  ASSERT_EQ(C().Ctl("snapshot create small s1").exit_code, 0);
  auto smaller = C().Ctl("volume create tiny --size 2M --from-snapshot small@s1");
  EXPECT_EQ(smaller.exit_code, 1) << smaller.output;
  EXPECT_THAT(smaller.output, HasSubstr("smaller than its source"));
  auto smaller_vol = C().Ctl("volume create tiny --size 2M --from-volume small");
  EXPECT_EQ(smaller_vol.exit_code, 1) << smaller_vol.output;
  EXPECT_THAT(smaller_vol.output, HasSubstr("smaller than its source"));
  auto unknown = C().Ctl("volume create x --size 4M --from-snapshot small@nope");
  EXPECT_EQ(unknown.exit_code, 3) << unknown.output;  // not found
  EXPECT_THAT(unknown.output, HasSubstr("not found"));
  auto unknown_vol = C().Ctl("volume create x --size 4M --from-volume nope");
  EXPECT_EQ(unknown_vol.exit_code, 3) << unknown_vol.output;  // not found
  EXPECT_THAT(unknown_vol.output, HasSubstr("not found"));
  auto both = C().Ctl("volume create x --size 4M --from-volume small --from-snapshot small@s1");
  EXPECT_EQ(both.exit_code, 2) << both.output;
  auto bad_id = C().Ctl("volume create x --size 4M --from-snapshot small");
  EXPECT_EQ(bad_id.exit_code, 2) << bad_id.output;
  // Nothing half-made is left behind by the failures.
  auto gone = C().Ctl("volume show tiny");
  EXPECT_EQ(gone.exit_code, 3) << gone.output;  // not found
  auto list = C().CtlJson("snapshot list small");
  ASSERT_TRUE(list.is_array());
  EXPECT_EQ(list.size(), 1u) << list.dump();
}

TEST_F(SnapshotCloneTest, DeleteRules) {
  ASSERT_EQ(C().Ctl("volume create held --size 4M --replicas 3").exit_code, 0);
  ASSERT_TRUE(C().WaitInSync("held"));
  ASSERT_EQ(C().Ctl("snapshot create held a").exit_code, 0);
  // Idempotent by name: the same snapshot, same creation time.
  auto first = C().CtlJson("snapshot show held@a");
  auto again = C().CtlJson("snapshot create held a");
  ASSERT_FALSE(first.is_null());
  ASSERT_FALSE(again.is_null());
  EXPECT_EQ(first["creation_time"], again["creation_time"]);

  auto refused = C().Ctl("volume delete held");
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_THAT(refused.output, HasSubstr("1 snapshot"));
  EXPECT_THAT(refused.output, HasSubstr("held@a"));
  EXPECT_EQ(C().Ctl("volume show held").exit_code, 0);

  EXPECT_EQ(C().Ctl("snapshot delete held@a").exit_code, 0);
  EXPECT_EQ(C().Ctl("snapshot delete held@a").exit_code, 0);  // idempotent
  auto show = C().Ctl("snapshot show held@a");
  EXPECT_EQ(show.exit_code, 3) << show.output;  // not found
  EXPECT_THAT(show.output, HasSubstr("not found"));
  EXPECT_EQ(C().Ctl("volume delete held").exit_code, 0);
  EXPECT_EQ(C().Ctl("snapshot delete held@a").exit_code, 0);  // volume gone: still OK

  auto bad = C().Ctl("snapshot delete no-at-sign");
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  auto unknown_volume = C().Ctl("snapshot create nope s");
  EXPECT_EQ(unknown_volume.exit_code, 3) << unknown_volume.output;  // not found
  EXPECT_THAT(unknown_volume.output, HasSubstr("not found"));
}

}  // namespace
}  // namespace syncblock::testing
