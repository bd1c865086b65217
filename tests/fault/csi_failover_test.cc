// Automatic failover end to end through the CSI driver (issue 13, DESIGN.md
// rule 7): `syncblock local up` (three storage nodes and `syncblock csi
// --mode all`), CreateVolume, ControllerPublish, NodeStage and NodePublish of
// an ext4 volume on the FUSE attach path (`syncblock fuse-export` + loop
// device), and an application thread writing files with write+fsync through
// the mount while the storage node of the volume's PRIMARY is killed with
// SIGKILL. Nobody promotes anything: the surviving majority elects the next
// primary and fuse-export follows it.
//
// Each failover must keep: no error reaches the writer (open, write, fsync,
// close); the volume has a new primary at a newer epoch, recorded as an
// election; every file whose fsync returned reads back intact after
// unpublish + unstage and a stage + publish at fresh paths; once the killed
// node is back (`local start`) every replica is in sync and `ctl verify`
// finds them identical. The second test does it twice in a row: the node
// elected the first time is killed in turn once the first one is back.
//
// Only generous liveness bounds, no timing thresholds: the stall each
// failover cost is printed, not checked (tests/bench/failover_bench.sh
// measures it).
//
// Needs root, /dev/fuse, loop devices, losetup, mkfs.ext4; skipped where
// they are missing. The fixture (tests/support/csi_e2e_fixture.h) undoes
// every mount, loop device and FUSE server, even when a test failed.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/support/csi_e2e_data.h"
#include "tests/support/csi_e2e_fixture.h"

namespace syncblock::csi {
namespace {

using Clock = std::chrono::steady_clock;

// The application: writes files "PREFIX-N" of 64 KiB (bytes that depend on
// the prefix and N), each with open, write, fsync, close, one after the
// other until stopped or until one of those calls fails. Counts the files
// whose fsync returned, and keeps when each one completed.
class FsyncFileWriter {
 public:
  FsyncFileWriter(std::string dir, std::string prefix)
      : dir_(std::move(dir)), prefix_(std::move(prefix)) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~FsyncFileWriter() { Stop(); }
  FsyncFileWriter(const FsyncFileWriter&) = delete;
  FsyncFileWriter& operator=(const FsyncFileWriter&) = delete;

  // Stops after the file in progress; returns how many were completed.
  int Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return done_;
  }
  int done() const { return done_.load(); }
  std::string error() const {
    std::lock_guard<std::mutex> l(mu_);
    return error_;
  }
  // The longest time between two completed files from the last one before
  // `t` to the ones completed within a minute after it: the stall a kill at
  // `t` cost (-1 when no file completed after `t`).
  std::chrono::milliseconds StallAfter(Clock::time_point t) const {
    std::lock_guard<std::mutex> l(mu_);
    auto first = std::upper_bound(completed_.begin(), completed_.end(), t);
    if (first == completed_.begin() || first == completed_.end()) {
      return std::chrono::milliseconds(-1);
    }
    Clock::duration longest{0};
    for (auto it = first; it != completed_.end() && *(it - 1) < t + std::chrono::minutes(1); ++it) {
      longest = std::max(longest, *it - *(it - 1));
    }
    return std::chrono::duration_cast<std::chrono::milliseconds>(longest);
  }

  std::string Path(int i) const { return absl::StrCat(dir_, "/", prefix_, "-", i); }
  std::string Body(int i) const { return BodyOf(prefix_, i); }

  static std::string BodyOf(const std::string& prefix, int i) {
    std::seed_seq seed{static_cast<uint64_t>(std::hash<std::string>()(prefix)),
                       static_cast<uint64_t>(i)};
    std::mt19937_64 body_rng(seed);
    std::string body(kBytes, '\0');
    for (size_t off = 0; off < body.size(); off += sizeof(uint64_t)) {
      uint64_t w = body_rng();
      std::memcpy(body.data() + off, &w, sizeof(w));
    }
    return body;
  }

 private:
  static constexpr size_t kBytes = 64 * 1024;

  void Loop() {
    for (int i = 0; !stop_; ++i) {
      const std::string body = Body(i);
      const std::string path = Path(i);
      int fd = open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
      if (fd < 0) return Fail("open", path);
      if (write(fd, body.data(), body.size()) != static_cast<ssize_t>(body.size())) {
        Fail("write", path);
        close(fd);
        return;
      }
      if (fsync(fd) != 0) {
        Fail("fsync", path);
        close(fd);
        return;
      }
      if (close(fd) != 0) return Fail("close", path);
      {
        std::lock_guard<std::mutex> l(mu_);
        completed_.push_back(Clock::now());
      }
      ++done_;
    }
  }
  void Fail(const char* what, const std::string& path) {
    const int err = errno;
    std::lock_guard<std::mutex> l(mu_);
    error_ = absl::StrCat(what, " ", path, ": ", std::strerror(err));
  }

  const std::string dir_;
  const std::string prefix_;
  std::atomic<bool> stop_{false};
  std::atomic<int> done_{0};
  mutable std::mutex mu_;
  std::string error_;
  std::vector<Clock::time_point> completed_;
  std::thread thread_;
};

class CsiFailoverTest : public CsiE2eTest {
 protected:
  struct Attached {
    std::string staging, target;
  };
  // Files a writer completed: the prefix and how many.
  struct Written {
    std::string prefix;
    int count = 0;
  };

  // CreateVolume (ext4, 3 replicas), ControllerPublish, stage and publish.
  void CreateAndAttach(const std::string& name) {
    cap_ = MountCap("ext4");
    volume_ = Create(name, cap_, 512 * kMiB, "ext4");
    id_ = volume_.volume_id();
    ASSERT_FALSE(id_.empty());
    grpc::Status s = ControllerPublish(id_, cap_, &context_);
    ASSERT_TRUE(s.ok()) << Describe(s);
    ASSERT_NO_FATAL_FAILURE(AttachAt(0));
  }

  // Stage + publish at fresh paths (nothing cached from an earlier attach).
  void AttachAt(int n) {
    at_.staging = work_.Join(absl::StrCat("kubelet/staging/", n, "/", id_));
    at_.target = work_.Join(absl::StrCat("kubelet/pods/p", n, "/volumes/", id_));
    ASSERT_NO_FATAL_FAILURE(StageAndPublish(volume_, cap_, context_, at_.staging, at_.target));
    ASSERT_EQ(MountFsType(at_.target), "ext4");
  }

  json Show() { return cluster_->CtlJson("volume show " + id_); }

  // A writer runs through the mount while the primary's node is killed; the
  // election moves the primary and the writer goes on without an error.
  // Then the writer stops, and the killed node is returned to the caller
  // (still down).
  void KillPrimaryUnderWriter(const std::string& prefix, std::string* killed) {
    json before = Show();
    ASSERT_TRUE(before.is_object());
    const std::string primary = before.value("primary", "");
    const uint64_t epoch = before.value("epoch", uint64_t{0});
    ASSERT_FALSE(primary.empty()) << before.dump();
    ASSERT_TRUE(before.value("serving", false)) << before.dump();

    FsyncFileWriter writer(at_.target, prefix);
    ASSERT_TRUE(testing::WaitFor([&] { return writer.done() >= 20 || !writer.error().empty(); },
                                 std::chrono::seconds(120)));
    ASSERT_EQ(writer.error(), "");

    const Clock::time_point kill_at = Clock::now();
    ASSERT_TRUE(cluster_->Kill(primary));
    *killed = primary;
    const int at_kill = writer.done();

    // No promote: the surviving pair elects a primary, and the writer goes
    // on on it (a generous liveness bound, not a timing check).
    json after;
    const bool moved = testing::WaitFor(
        [&] {
          after = Show();
          return after.is_object() && after.value("serving", false) &&
                 !after.value("primary", "").empty() && after.value("primary", "") != primary;
        },
        std::chrono::seconds(120));
    EXPECT_TRUE(moved) << "no new primary was elected: " << after.dump();
    const bool resumed =
        testing::WaitFor([&] { return writer.done() >= at_kill + 20 || !writer.error().empty(); },
                         std::chrono::seconds(180));
    const int written = writer.Stop();
    EXPECT_EQ(writer.error(), "") << "the application saw an error after " << written << " files";
    ASSERT_TRUE(resumed) << "the writer made no progress after the kill: " << written << " files, "
                         << at_kill << " at the kill\n"
                         << cluster_->Ctl("volume show " + id_).output;
    std::printf(
        "[ failover ] %s killed (primary at epoch %llu); %s elected; the writer's "
        "longest gap between two fsyncs after the kill: %lld ms\n",
        primary.c_str(), static_cast<unsigned long long>(epoch), after.value("primary", "").c_str(),
        static_cast<long long>(writer.StallAfter(kill_at).count()));

    // The move is recorded as an election away from the killed node.
    EXPECT_GT(after.value("epoch", uint64_t{0}), epoch) << after.dump();
    EXPECT_EQ(after.value("last_failover_from", ""), primary) << after.dump();
    EXPECT_TRUE(absl::StartsWith(after.value("last_failover_reason", ""), "election"))
        << after.dump();
    written_.push_back({prefix, written});
  }

  // Every file every writer completed has its bytes.
  void ExpectAllFiles(const std::string& dir) {
    size_t files = 0;
    for (const Written& w : written_) {
      for (int i = 0; i < w.count; ++i, ++files) {
        const std::string path = absl::StrCat(dir, "/", w.prefix, "-", i);
        ASSERT_EQ(testing::ReadFile(path), FsyncFileWriter::BodyOf(w.prefix, i))
            << path << " (file " << i << " of " << w.count << ")";
      }
    }
    std::printf("[ failover ] %zu files read back intact\n", files);
  }

  // Unpublish + unstage, stage + publish at fresh paths, every file checked.
  void RestageAndCheck(int n) {
    ASSERT_NO_FATAL_FAILURE(UnpublishAndUnstage(id_, at_.staging, at_.target));
    ASSERT_NO_FATAL_FAILURE(AttachAt(n));
    ASSERT_NO_FATAL_FAILURE(ExpectAllFiles(at_.target));
  }

  // The killed node returns, catches up, and the replicas are identical.
  void ReturnAndVerify(const std::string& node) {
    ASSERT_TRUE(cluster_->Start(node)) << cluster_->NodeLog(node);
    ASSERT_NO_FATAL_FAILURE(ExpectReplicasIdentical(id_));
    json v = Show();
    for (const auto& r : v.value("replicas", json::array())) {
      EXPECT_EQ(r.value("state", ""), "in_sync") << v.dump();
    }
  }

  void DetachAndDelete() {
    ASSERT_NO_FATAL_FAILURE(UnpublishAndUnstage(id_, at_.staging, at_.target));
    ControllerUnpublishAndDelete(id_);
  }

  VolumeCapability cap_;
  ::csi::v1::Volume volume_;
  std::string id_;
  google::protobuf::Map<std::string, std::string> context_;
  Attached at_;
  std::vector<Written> written_;
};

TEST_F(CsiFailoverTest, Ext4WriterSurvivesKillOfThePrimaryWithoutPromote) {
  ASSERT_NO_FATAL_FAILURE(CreateAndAttach("failover-once"));
  std::string killed;
  ASSERT_NO_FATAL_FAILURE(KillPrimaryUnderWriter("a", &killed));
  ASSERT_NO_FATAL_FAILURE(RestageAndCheck(1));
  ASSERT_NO_FATAL_FAILURE(ReturnAndVerify(killed));
  DetachAndDelete();
}

TEST_F(CsiFailoverTest, Ext4WriterSurvivesTwoPrimaryKillsInARow) {
  ASSERT_NO_FATAL_FAILURE(CreateAndAttach("failover-twice"));
  std::string first, second;
  ASSERT_NO_FATAL_FAILURE(KillPrimaryUnderWriter("a", &first));
  ASSERT_NO_FATAL_FAILURE(RestageAndCheck(1));
  ASSERT_NO_FATAL_FAILURE(ReturnAndVerify(first));

  // The node elected above is the primary now; kill it in turn.
  ASSERT_NO_FATAL_FAILURE(KillPrimaryUnderWriter("b", &second));
  EXPECT_NE(second, first);
  ASSERT_NO_FATAL_FAILURE(RestageAndCheck(2));
  ASSERT_NO_FATAL_FAILURE(ReturnAndVerify(second));
  DetachAndDelete();
}

}  // namespace
}  // namespace syncblock::csi
