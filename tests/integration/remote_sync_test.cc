// Snapshot-based sync to a remote cluster with real processes
// (replication/doc/remote_sync.md): two local clusters that share a CA, the
// source's CSI controller running the cycles, data written and compared with
// real NBD clients (qemu-io, nbdcopy), storage nodes of either side killed
// with kill -9 in the middle of a transfer, the remote promoted, and the
// first site brought back by a failback that ships only the difference.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "absl/strings/str_join.h"
#include "tests/support/local_cluster.h"
#include "tests/support/test_util.h"

namespace syncblock::testing {
namespace {

using json = nlohmann::json;
using std::chrono::seconds;

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kKiB = 1 << 10;

std::string Nodes(const LocalCluster& c) { return absl::StrJoin(c.ControlAddresses(), ","); }

void Write(const std::string& uri, const std::string& commands) {
  auto io = RunCommand("qemu-io -f raw " + commands + " -c flush '" + uri + "'", seconds(180));
  ASSERT_EQ(io.exit_code, 0) << io.output;
}

// sha256 of a volume's whole export, read by nbdcopy.
std::string Digest(const std::string& uri) {
  auto r = RunCommand("nbdcopy '" + uri + "' - | sha256sum", seconds(180));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return r.output.substr(0, 64);
}

json Status(const LocalCluster& c, const std::string& volume) {
  return c.CtlJson("volume replication-status " + volume);
}

// Polls the status until `done` says so; the last status (null on timeout).
json WaitStatus(const LocalCluster& c, const std::string& volume,
                const std::function<bool(const json&)>& done, seconds timeout = seconds(180)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  json s;
  while (std::chrono::steady_clock::now() < deadline) {
    s = Status(c, volume);
    if (!s.is_null() && done(s)) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  ADD_FAILURE() << "timed out; last status of " << volume << ": " << s.dump(2);
  return nullptr;
}

json WaitCycles(const LocalCluster& c, const std::string& volume, uint64_t succeeded) {
  return WaitStatus(
      c, volume, [&](const json& s) { return s["cycles_succeeded"].get<uint64_t>() >= succeeded; });
}

// Writes 24 MiB of `pattern` to db and runs a cycle at 2 MiB/s: returns once
// 6 MiB of it are on the target, mid-transfer.
void StartSlowTransfer(const LocalCluster& east, int pattern) {
  Write(east.Export("db"), "-c 'write -P " + std::to_string(pattern) + " 0 24M'");
  ASSERT_EQ(east.Ctl("volume replicate db --remote west --interval 1h --keep 2 --rate 2M --now")
                .exit_code,
            0);
  ASSERT_FALSE(WaitStatus(east, "db", [](const json& st) {
                 return st["transfer"].is_object() &&
                        st["transfer"]["bytes_shipped"].get<uint64_t>() >= 6 * kMiB;
               }).is_null());
}

// The `succeeded`-th cycle, which must have resumed an interrupted transfer
// of 24 MiB rather than started it again.
json WaitResumedCycle(const LocalCluster& east, uint64_t succeeded) {
  json s = WaitCycles(east, "db", succeeded);
  if (s.is_null()) return s;
  const json& last = s["last_cycle"];
  EXPECT_GT(last["resumed_from"].get<uint64_t>(), 0u) << s.dump(2);
  EXPECT_LT(last["bytes_shipped"].get<uint64_t>(), 24 * kMiB) << s.dump(2);
  return s;
}

std::string PrimaryOf(const LocalCluster& c, const std::string& volume) {
  json v = c.CtlJson("volume show " + volume);
  return v.is_null() ? "" : v["primary"].get<std::string>();
}

class RemoteSyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* tool : {"qemu-io", "nbdcopy"}) {
      if (!HaveTool(tool)) GTEST_SKIP() << "needs " << tool;
    }
  }
};

TEST_F(RemoteSyncTest, ShipsOnlyChangesResumesAfterKillsPromotesAndFailsBack) {
  // West runs a controller too: it runs the failback's cycles.
  LocalCluster west(3, "");
  ASSERT_TRUE(west.ok()) << west.up_output();
  LocalCluster east(3, "--ca-from " + west.dir());
  ASSERT_TRUE(east.ok()) << east.up_output();
  ASSERT_EQ(east.Ctl("remote add west --storage-nodes " + Nodes(west)).exit_code, 0);
  ASSERT_EQ(west.Ctl("remote add east --storage-nodes " + Nodes(east)).exit_code, 0);
  json remotes = east.CtlJson("remote list");
  ASSERT_EQ(remotes["remotes"].size(), 1u) << remotes.dump(2);
  EXPECT_EQ(remotes["remotes"][0]["volume_prefix"], "dr-");
  EXPECT_TRUE(remotes["remotes"][0]["missing_on"].empty()) << remotes.dump(2);

  ASSERT_EQ(east.Ctl("volume create db --size 64M --replicas 3").exit_code, 0);
  ASSERT_TRUE(east.WaitInSync("db"));
  Write(east.Export("db"), "-c 'write -P 1 0 8M' -c 'write -P 2 32M 4M'");
  // An hour's interval: the test runs each cycle with --now, so that a cycle
  // never cuts its snapshot in the middle of the test's writes.
  auto declared = east.Ctl("volume replicate db --remote west --interval 1h --keep 2");
  ASSERT_EQ(declared.exit_code, 0) << declared.output;

  // 1. The first cycle is a full copy of the data only (holes stay holes).
  json s = WaitCycles(east, "db", 1);
  ASSERT_FALSE(s.is_null());
  json last = s["last_cycle"];
  EXPECT_TRUE(last["full_copy"].get<bool>()) << s.dump(2);
  EXPECT_EQ(last["bytes_shipped"].get<uint64_t>(), 12 * kMiB) << s.dump(2);
  EXPECT_EQ(last["changed_bytes"].get<uint64_t>(), 12 * kMiB) << s.dump(2);
  const std::string first = last["snapshot"];
  EXPECT_EQ(s["newest_consistent_snapshot"]["name"], first);
  EXPECT_TRUE(s["remote_answered"].get<bool>());
  EXPECT_EQ(Digest(west.Export("dr-db")), Digest(east.Export("db")));
  json target = west.CtlJson("volume show dr-db");
  EXPECT_EQ(target["size_bytes"].get<uint64_t>(), 64 * kMiB);
  EXPECT_EQ(target["attributes"]["remote-sync.source-volume"], "db");

  // 2. Later cycles ship exactly the regions written since.
  Write(east.Export("db"),
        "-c 'write -P 3 1M 64k' -c 'write -P 3 10M 64k' -c 'write -P 3 20M 64k' "
        "-c 'write -P 3 40M 64k' -c 'write -P 3 60M 64k'");
  ASSERT_EQ(east.Ctl("volume replicate db --remote west --interval 1h --keep 2 --now").exit_code,
            0);
  s = WaitCycles(east, "db", 2);
  ASSERT_FALSE(s.is_null());
  last = s["last_cycle"];
  EXPECT_EQ(last["base"], first);
  EXPECT_EQ(last["bytes_shipped"].get<uint64_t>(), 5 * 64 * kKiB) << s.dump(2);
  EXPECT_EQ(last["changed_bytes"].get<uint64_t>(), 5 * 64 * kKiB) << s.dump(2);
  EXPECT_EQ(Digest(west.Export("dr-db")), Digest(east.Export("db")));
  auto text = east.Ctl("volume replication-status db");
  EXPECT_NE(text.output.find("RPO achieved"), std::string::npos) << text.output;
  // Stopped and declared again: the same pairing takes the same target up
  // again (nothing is copied anew).
  ASSERT_EQ(east.Ctl("volume replicate db --stop").exit_code, 0);
  auto again = east.Ctl("volume replicate db --remote west --interval 1h --keep 2");
  ASSERT_EQ(again.exit_code, 0) << again.output;

  // 3. The remote's primary killed mid-transfer: the next cycle resumes.
  StartSlowTransfer(east, 4);
  const std::string west_primary = PrimaryOf(west, "dr-db");
  ASSERT_TRUE(west.Kill(west_primary));
  s = WaitStatus(east, "db",
                 [](const json& st) { return st["cycles_failed"].get<uint64_t>() >= 1; });
  ASSERT_FALSE(s.is_null());
  EXPECT_TRUE(s["error"].is_string()) << s.dump(2);
  ASSERT_TRUE(west.Start(west_primary));
  ASSERT_EQ(east.Ctl("volume replicate db --remote west --interval 1h --keep 2 --rate 2M --now")
                .exit_code,
            0);
  ASSERT_FALSE(WaitResumedCycle(east, 3).is_null());
  EXPECT_EQ(Digest(west.Export("dr-db")), Digest(east.Export("db")));

  // 4. The source's primary killed mid-transfer: a new primary holds the
  // snapshot, and the cycle is taken up again from its checkpoint.
  StartSlowTransfer(east, 5);
  const std::string east_primary = PrimaryOf(east, "db");
  ASSERT_TRUE(east.Kill(east_primary));
  ASSERT_FALSE(WaitResumedCycle(east, 4).is_null());
  ASSERT_TRUE(east.Start(east_primary));
  ASSERT_TRUE(east.WaitInSync("db"));
  EXPECT_EQ(Digest(west.Export("dr-db")), Digest(east.Export("db")));

  // 5. The process that ships, the CSI controller, killed mid-transfer and
  // started again: it takes its lease back and resumes.
  StartSlowTransfer(east, 8);
  auto killed = RunCommand(SyncblockBinary() + " local kill --dir " + east.dir() + " csi");
  ASSERT_EQ(killed.exit_code, 0) << killed.output;
  auto started = RunCommand(SyncblockBinary() + " local start --dir " + east.dir() + " csi");
  ASSERT_EQ(started.exit_code, 0) << started.output;
  s = WaitResumedCycle(east, 5);
  ASSERT_FALSE(s.is_null());
  EXPECT_EQ(Digest(west.Export("dr-db")), Digest(east.Export("db")));
  // The remote keeps the newest two.
  json snaps = west.CtlJson("snapshot list dr-db");
  ASSERT_FALSE(snaps.is_null());
  EXPECT_EQ(s["remote_snapshots"].size(), 2u) << s.dump(2);

  // 6. The source site is lost after writes no cycle shipped; the remote is
  // promoted and holds exactly the last shipped snapshot.
  ASSERT_EQ(east.Ctl("volume replicate db --stop").exit_code, 0);
  const std::string shipped = s["newest_consistent_snapshot"]["name"];
  Write(east.Export("db"), "-c 'write -P 6 48M 1M'");
  json promoted = west.CtlJson("volume promote-remote dr-db");
  ASSERT_FALSE(promoted.is_null());
  EXPECT_EQ(promoted["snapshot"], shipped);
  EXPECT_EQ(promoted["source_volume"], "db");
  ASSERT_EQ(
      east.Ctl("volume create at-shipped --size 64M --replicas 1 --from-snapshot db@" + shipped)
          .exit_code,
      0);
  EXPECT_EQ(Digest(west.Export("dr-db")), Digest(east.Export("at-shipped")));
  // The same promotion again is answered the same.
  EXPECT_EQ(west.CtlJson("volume promote-remote dr-db")["snapshot"], shipped);
  // The old site may not write over it any more.
  auto over = east.Ctl("volume replicate db --remote west --interval 1h");
  EXPECT_NE(over.exit_code, 0);
  EXPECT_NE(over.output.find("was promoted"), std::string::npos) << over.output;

  // 7. The promoted volume takes writes; failback to the first site ships
  // those and what the first site wrote after the shipped snapshot (rolled
  // back), not the whole volume.
  Write(west.Export("dr-db"), "-c 'write -P 7 2M 128k'");
  auto back = west.Ctl("volume replicate dr-db --remote east --interval 1h");
  ASSERT_EQ(back.exit_code, 0) << back.output;
  EXPECT_NE(back.output.find(" db "), std::string::npos) << back.output;  // the origin, by default
  json w = WaitCycles(west, "dr-db", 1);
  ASSERT_FALSE(w.is_null());
  last = w["last_cycle"];
  EXPECT_EQ(last["base"], shipped) << w.dump(2);
  EXPECT_EQ(last["changed_bytes"].get<uint64_t>(), 128 * kKiB + kMiB) << w.dump(2);
  // The first site's 1 MiB at 48M was zeros at the shipped snapshot: it is
  // rolled back with WRITE_ZEROES, no data.
  EXPECT_EQ(last["bytes_shipped"].get<uint64_t>(), 128 * kKiB) << w.dump(2);
  EXPECT_EQ(last["zero_bytes"].get<uint64_t>(), kMiB) << w.dump(2);
  EXPECT_EQ(Digest(east.Export("db")), Digest(west.Export("dr-db")));
}

TEST_F(RemoteSyncTest, BadRequestsAreRefusedPreciselyWithNothingHalfApplied) {
  // The remote's data on a 96 MiB file system: it cannot hold a 256 MiB volume.
  TempDir small;
  auto mounted = RunCommand("mount -t tmpfs -o size=96m tmpfs " + small.path());
  if (mounted.exit_code != 0) GTEST_SKIP() << "cannot mount a tmpfs: " << mounted.output;
  struct Unmount {
    std::string path;
    ~Unmount() { RunCommand("umount -l " + path); }
  } unmount{small.path()};
  std::string saved_tmpdir = std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "";
  setenv("TMPDIR", small.path().c_str(), 1);
  auto west = std::make_unique<LocalCluster>(1, "--no-csi");
  if (saved_tmpdir.empty()) {
    unsetenv("TMPDIR");
  } else {
    setenv("TMPDIR", saved_tmpdir.c_str(), 1);
  }
  ASSERT_TRUE(west->ok()) << west->up_output();
  // East runs its controller: it runs the cycle that finds no space there.
  LocalCluster east(1, "--ca-from " + west->dir());
  ASSERT_TRUE(east.ok()) << east.up_output();
  ASSERT_EQ(east.Ctl("volume create v --size 16M --replicas 1").exit_code, 0);

  auto r = east.Ctl("volume replicate v --remote nowhere");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("remote \"nowhere\" is not defined"), std::string::npos) << r.output;
  r = east.Ctl("remote add gone --storage-nodes 127.0.0.1:1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("none of its storage nodes answers"), std::string::npos) << r.output;
  ASSERT_EQ(east.Ctl("remote add gone --storage-nodes 127.0.0.1:1 --no-check").exit_code, 0);
  r = east.Ctl("volume replicate v --remote gone");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("none of its storage nodes answers"), std::string::npos) << r.output;
  r = east.Ctl("remote add Bad_Name --storage-nodes 127.0.0.1:1 --no-check");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("must be 1-63 of a-z"), std::string::npos) << r.output;

  ASSERT_EQ(east.Ctl("remote add west --storage-nodes " + Nodes(*west)).exit_code, 0);
  for (const std::string bad : {"--interval 5s", "--interval 2d", "--interval soon", "--keep 0",
                                "--keep 101", "--rate fast"}) {
    r = east.Ctl("volume replicate v --remote west " + bad);
    EXPECT_NE(r.exit_code, 0) << bad;
    EXPECT_NE(r.output.find(bad.substr(0, bad.find(' '))), std::string::npos) << r.output;
  }
  // A volume there of another size, or one that is no copy of this one.
  ASSERT_EQ(west->Ctl("volume create dr-v --size 32M --replicas 1").exit_code, 0);
  r = east.Ctl("volume replicate v --remote west");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("volume size mismatch"), std::string::npos) << r.output;
  ASSERT_EQ(west->Ctl("volume create other --size 16M --replicas 1").exit_code, 0);
  r = east.Ctl("volume replicate v --remote west --target other");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("no sync snapshot in common"), std::string::npos) << r.output;
  // None of those declared anything, nor marked anything there.
  json v = east.CtlJson("volume show v");
  EXPECT_EQ(v["attributes"].count("remote-sync.remote"), 0u) << v.dump(2);
  json other = west->CtlJson("volume show other");
  EXPECT_EQ(other["attributes"].count("remote-sync.source-pairing"), 0u) << other.dump(2);
  r = east.Ctl("volume replication-status v");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("does not sync to a remote"), std::string::npos) << r.output;

  // A remote without the space: the cycle fails, says why, and leaves no
  // target behind.
  ASSERT_EQ(east.Ctl("volume create big --size 256M --replicas 1").exit_code, 0);
  ASSERT_EQ(east.Ctl("volume replicate big --remote west --interval 10s").exit_code, 0);
  json failed = WaitStatus(east, "big",
                           [](const json& st) { return st["cycles_failed"].get<uint64_t>() >= 1; });
  ASSERT_FALSE(failed.is_null());
  EXPECT_NE(failed["error"].get<std::string>().find("creating volume dr-big on remote west"),
            std::string::npos)
      << failed.dump(2);
  EXPECT_TRUE(failed["newest_consistent_snapshot"].is_null()) << failed.dump(2);
  EXPECT_EQ(west->Ctl("volume show dr-big").exit_code, 3 /* not found */);
  auto status_text = east.Ctl("volume replication-status big");
  EXPECT_NE(status_text.output.find("FAILED"), std::string::npos) << status_text.output;
  // A remote in use is not removed.
  r = east.Ctl("remote remove west");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("in use by the sync of big"), std::string::npos) << r.output;
  ASSERT_EQ(east.Ctl("remote remove gone").exit_code, 0);
  json remotes = east.CtlJson("remote list");
  ASSERT_EQ(remotes["remotes"].size(), 1u) << remotes.dump(2);
  ASSERT_EQ(east.Ctl("volume replicate big --stop").exit_code, 0);
  EXPECT_EQ(east.Ctl("remote remove west").exit_code, 0);
  // A promotion of what is no target.
  r = west->Ctl("volume promote-remote other");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("is not the target of a remote sync"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace syncblock::testing
