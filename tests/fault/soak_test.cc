// A failover soak with real processes (DESIGN.md rules 1, 2 and 7): writers
// keep writing 4 KiB blocks over NBD, each finding the primary again through
// `ctl export` after an error, while a random storage node (the primary
// included) is killed with kill -9 every few seconds and started again a few
// seconds later, one node down at most at any time. At the end every block
// holds what it was last acknowledged with, or what a later write whose
// outcome the writer never learned put there, and the replicas are
// identical.
//
// Why that check is exact: each block belongs to one writer, which has one
// write in flight at a time, so a block's writes are ordered. A write that
// was acknowledged is on a majority and must survive. A write answered with
// an error, or not answered before the client's timeout, may have reached
// some replicas and been kept by a later election, or not: the block may
// hold it, but only if it came after the last acknowledged write (the
// client's timeout is longer than the server's io timeout, so an earlier
// one was decided before the next write to that block was sent). Each write
// carries a version that is unique across the test, in every 16 bytes of
// the block, so a torn block shows too.
//
// SYNCBLOCK_SOAK_SECONDS sets how long the nodes are killed (default 120).
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/fault/fault_test_base.h"
#include "tests/fault/nbd_block_client.h"

namespace syncblock::testing {
namespace {

constexpr uint64_t kBlockSize = 4096;
constexpr uint64_t kStride = 32 * 1024;  // blocks spread over every region
constexpr int kBlocks = 2048;            // 64 MiB / kStride
constexpr int kWriters = 3;
constexpr uint64_t kMagic = 0x5359'4e43'424c'4b00ull;  // "SYNCBLK\0"
constexpr int kClientTimeoutMs = 25000;                // > the server's io timeout

std::string BlockData(int block, uint64_t version) {
  std::string out(kBlockSize, '\0');
  for (size_t at = 0; at < kBlockSize; at += 16) {
    uint64_t tag = kMagic | static_cast<uint64_t>(block & 0xff);
    uint64_t v = version;
    std::memcpy(out.data() + at, &tag, 8);
    std::memcpy(out.data() + at + 8, &v, 8);
  }
  return out;
}

// The version a block holds (0: never written), or a description of why it
// holds none.
bool DecodeBlock(int block, const std::string& data, uint64_t* version, std::string* why) {
  if (data == std::string(kBlockSize, '\0')) {
    *version = 0;
    return true;
  }
  uint64_t tag, v;
  std::memcpy(&tag, data.data(), 8);
  std::memcpy(&v, data.data() + 8, 8);
  if (tag != (kMagic | static_cast<uint64_t>(block & 0xff))) {
    *why = "holds no write of this block (tag " + std::to_string(tag) + ")";
    return false;
  }
  if (data != BlockData(block, v)) {
    *why = "is torn (starts with version " + std::to_string(v) + ")";
    return false;
  }
  *version = v;
  return true;
}

struct BlockState {
  uint64_t acked = 0;        // the last acknowledged version; 0: zeros
  std::set<uint64_t> maybe;  // versions written after it with no known outcome
};

struct WriterStats {
  uint64_t acked = 0, errors = 0, unanswered = 0, reconnects = 0;
  std::chrono::milliseconds longest_stall{0};
};

class SoakWriter {
 public:
  SoakWriter(const LocalCluster& c, int id, const std::atomic<bool>& stop)
      : c_(c), id_(id), stop_(stop), random_(std::random_device{}() + id) {}

  void Start() {
    thread_ = std::thread([this] { Loop(); });
  }
  void Join() {
    if (thread_.joinable()) thread_.join();
  }
  const BlockState& block(int b) const { return blocks_[b]; }
  const WriterStats& stats() const { return stats_; }

 private:
  void Loop() {
    std::unique_ptr<NbdBlockClient> conn;
    std::uniform_int_distribution<int> pick(0, kBlocks / kWriters - 1);
    uint64_t counter = 0;
    auto last_ack = std::chrono::steady_clock::now();
    while (!stop_.load()) {
      if (!conn) {
        ++stats_.reconnects;
        const std::string uri = c_.Export("v");
        if (!uri.empty()) conn = NbdBlockClient::Connect(uri, kClientTimeoutMs);
        if (!conn) {
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
          continue;
        }
      }
      const int b = pick(random_) * kWriters + id_;
      const uint64_t version = (++counter << 8) | static_cast<uint64_t>(id_ + 1);
      BlockState& st = blocks_[b];
      switch (conn->Write(b * kStride, BlockData(b, version))) {
        case NbdBlockClient::Outcome::kAcked: {
          st.acked = version;
          st.maybe.clear();
          ++stats_.acked;
          auto now = std::chrono::steady_clock::now();
          stats_.longest_stall =
              std::max(stats_.longest_stall,
                       std::chrono::duration_cast<std::chrono::milliseconds>(now - last_ack));
          last_ack = now;
          break;
        }
        case NbdBlockClient::Outcome::kError:
          st.maybe.insert(version);
          ++stats_.errors;
          conn.reset();  // the primary may have moved: ask again
          break;
        case NbdBlockClient::Outcome::kNoAnswer:
          st.maybe.insert(version);
          ++stats_.unanswered;
          conn.reset();
          break;
      }
    }
  }

  const LocalCluster& c_;
  const int id_;
  const std::atomic<bool>& stop_;
  std::mt19937 random_;
  std::thread thread_;
  std::vector<BlockState> blocks_ = std::vector<BlockState>(kBlocks);
  WriterStats stats_;
};

int SoakSeconds() {
  const char* s = std::getenv("SYNCBLOCK_SOAK_SECONDS");
  int n = s ? std::atoi(s) : 0;
  return n > 0 ? n : 120;
}

class SoakTest : public FaultTestBase {};

TEST_F(SoakTest, RandomKillsOfAnyNodeLoseNoAcknowledgedWrite) {
  LocalCluster c(3, "--no-csi --io-timeout-ms 5000");
  ASSERT_TRUE(c.ok()) << c.up_output();
  ASSERT_EQ(c.Ctl("volume create v --size 64M --replicas 3").exit_code, 0);
  const uint64_t first_epoch = c.CtlJson("volume show v")["epoch"].get<uint64_t>();
  const std::vector<std::string> nodes = {"node-1", "node-2", "node-3"};

  std::atomic<bool> stop{false};
  std::vector<std::unique_ptr<SoakWriter>> writers;
  for (int i = 0; i < kWriters; ++i) {
    writers.push_back(std::make_unique<SoakWriter>(c, i, stop));
    writers.back()->Start();
  }
  // Stops the writers however the test body ends.
  struct StopWriters {
    std::atomic<bool>& stop;
    std::vector<std::unique_ptr<SoakWriter>>& writers;
    ~StopWriters() {
      stop = true;
      for (auto& w : writers) w->Join();
    }
  } stop_writers{stop, writers};

  std::mt19937 random(std::random_device{}());
  std::uniform_int_distribution<int> up_ms(1000, 5000), down_ms(2000, 4000);
  std::uniform_int_distribution<size_t> which(0, nodes.size() - 1);
  std::string events;
  int kills = 0, primary_kills = 0;
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::seconds(SoakSeconds());
  while (std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(up_ms(random)));
    const std::string node = nodes[which(random)];
    nlohmann::json v = c.CtlJson("volume show v");
    const bool was_primary = v.is_object() && v.value("primary", "") == node;
    const auto t = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now() - start)
                       .count();
    ASSERT_TRUE(c.Kill(node)) << events;
    ++kills;
    primary_kills += was_primary;
    events += std::to_string(t) + " ms: kill -9 " + node + (was_primary ? " (primary)\n" : "\n");
    std::this_thread::sleep_for(std::chrono::milliseconds(down_ms(random)));
    ASSERT_TRUE(c.Start(node)) << events;
  }
  stop = true;
  for (auto& w : writers) w->Join();
  std::cerr << "soak: " << kills << " kills (" << primary_kills << " of the primary) in "
            << SoakSeconds() << " s:\n"
            << events;
  WriterStats total;
  for (const auto& w : writers) {
    const WriterStats& s = w->stats();
    total.acked += s.acked;
    total.errors += s.errors;
    total.unanswered += s.unanswered;
    total.reconnects += s.reconnects;
    total.longest_stall = std::max(total.longest_stall, s.longest_stall);
  }
  std::cerr << "soak: " << total.acked << " writes acknowledged, " << total.errors
            << " answered with an error, " << total.unanswered << " unanswered, "
            << total.reconnects << " connections; longest wait between two acknowledgements "
            << total.longest_stall.count() << " ms\n";
  EXPECT_GT(total.acked, 100u);

  ExpectIdentical(c, "v");
  nlohmann::json v = c.CtlJson("volume show v");
  ASSERT_TRUE(v.is_object());
  std::cerr << "soak: epoch " << first_epoch << " -> " << v["epoch"].get<uint64_t>() << ", primary "
            << v.value("primary", "") << "\n";
  if (primary_kills > 0) {
    EXPECT_GT(v["epoch"].get<uint64_t>(), first_epoch);
  }

  const std::string uri = c.Export("v");
  auto reader = NbdBlockClient::Connect(uri, 30000);
  ASSERT_NE(reader, nullptr) << uri;
  int wrong = 0, held_maybe = 0;
  for (int b = 0; b < kBlocks; ++b) {
    const BlockState& st = writers[b % kWriters]->block(b);
    auto data = reader->Read(b * kStride, kBlockSize);
    ASSERT_TRUE(data.has_value()) << "reading block " << b << " from " << uri;
    uint64_t version = 0;
    std::string why;
    bool ok = DecodeBlock(b, *data, &version, &why);
    if (ok && version != st.acked) {
      ok = st.maybe.count(version) > 0;
      held_maybe += ok;
      if (!ok) {
        why = "holds version " + std::to_string(version) + ", not the last acknowledged " +
              std::to_string(st.acked) + " nor one of the " + std::to_string(st.maybe.size()) +
              " written after it with no known outcome";
      }
    }
    if (!ok && ++wrong <= 20)
      ADD_FAILURE() << "block " << b << " (offset " << b * kStride << ") " << why;
  }
  EXPECT_EQ(wrong, 0) << "blocks whose acknowledged write was lost or overwritten";
  std::cerr << "soak: " << kBlocks << " blocks checked; " << held_maybe
            << " hold a write whose outcome the writer never learned\n";
}

}  // namespace
}  // namespace syncblock::testing
