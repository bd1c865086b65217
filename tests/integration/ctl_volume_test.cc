// `syncblock ctl` against a real local cluster (one per suite, three storage
// nodes in three zones): volumes, replicas, promotion, verify, resync, the
// JSON shapes and the error cases.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "tests/support/local_cluster.h"
#include "tests/support/test_util.h"

namespace syncblock::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;
using json = nlohmann::json;

class CtlVolumeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    auto up = RunCommand(SyncblockBinary() + " local up --no-csi --dir " + dir_->path(),
                         std::chrono::seconds(120));
    up_ok_ = up.exit_code == 0;
    up_output_ = up.output;
    UseClusterNbdCertificates(dir_->path());
  }

  static void TearDownTestSuite() {
    RunCommand(SyncblockBinary() + " local down --dir " + dir_->path(), std::chrono::seconds(60));
    // Should down have failed, nothing it started may outlive the suite.
    std::string text = ReadFile(dir_->Join("cluster.json"));
    try {
      for (const auto& s : json::parse(text)["storage"]) {
        int pid = s.value("pid", 0);
        std::ifstream cmdline("/proc/" + std::to_string(pid) + "/cmdline");
        std::string argv0;
        std::getline(cmdline, argv0, '\0');
        if (pid > 0 && argv0.find("syncblock") != std::string::npos) kill(pid, SIGKILL);
      }
    } catch (const json::exception&) {
    }
    delete dir_;
    dir_ = nullptr;
  }

  void SetUp() override { ASSERT_TRUE(up_ok_) << up_output_; }

  static CommandResult Ctl(const std::string& args) {
    return RunCommand(SyncblockBinary() + " ctl --cluster " + dir_->path() + " " + args,
                      std::chrono::seconds(180));
  }
  // stdout only, parsed; a failure names the command and its output.
  static json CtlJson(const std::string& args) {
    auto r = RunCommand(
        SyncblockBinary() + " ctl --cluster " + dir_->path() + " " + args + " -o json 2>/dev/null",
        std::chrono::seconds(180));
    EXPECT_EQ(r.exit_code, 0) << args << ": " << r.output;
    try {
      return json::parse(r.output);
    } catch (const json::exception& e) {
      ADD_FAILURE() << args << ": not JSON: " << r.output;
      return json::object();
    }
  }
  static json Cluster() { return json::parse(ReadFile(dir_->Join("cluster.json"))); }
  static std::string NbdOf(const std::string& node) {
    json cluster = Cluster();
    for (const auto& s : cluster["storage"]) {
      if (s["id"] == node) return s["nbd"];
    }
    return "";
  }
  static std::string Export(const std::string& volume) {
    auto r = Ctl("export " + volume);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return r.output.substr(0, r.output.find('\n'));
  }
  static void WaitInSync(const std::string& volume) {
    auto r = Ctl("resync-status " + volume + " --watch --interval-ms 200 --timeout 120");
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }

  static TempDir* dir_;
  static bool up_ok_;
  static std::string up_output_;
};

TempDir* CtlVolumeTest::dir_ = nullptr;
bool CtlVolumeTest::up_ok_ = false;
std::string CtlVolumeTest::up_output_;

// A storage node that is down (nothing listens) or hung (the port accepts
// TCP connections but never answers) must not hold ctl up for the RPC
// deadline: nodes are dialled in parallel with a short connect timeout, and
// the listing still says which node is unreachable.
TEST_F(CtlVolumeTest, NodeListWithUnreachableNodesAnswersQuickly) {
  // The hung node: a listening socket nobody accepts on (the kernel completes
  // the TCP handshake; gRPC's HTTP/2 preface is never answered).
  int silent = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(silent, 0);
  std::unique_ptr<int, void (*)(int*)> close_silent(&silent, [](int* fd) { ::close(*fd); });
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(silent, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(silent, 16), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::getsockname(silent, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string hung = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  const std::string down = "127.0.0.1:" + std::to_string(FreePort());
  std::string live;
  json cluster = Cluster();
  for (const auto& s : cluster["storage"]) {
    if (s["id"] == "node-1") live = s["control"].get<std::string>();
  }
  ASSERT_FALSE(live.empty());

  // Liveness bound: before, the hung node alone cost the 10 s RPC deadline
  // plus a 2 s retry; now the 1 s connect timeout, once, for both.
  const std::string tls = dir_->path() + "/tls/";  // what `local up` made; ctl is the admin
  auto r = RunCommand(SyncblockBinary() + " ctl --storage-nodes " + live + "," + down + "," + hung +
                          " --tls-ca " + tls + "ca.crt --tls-cert " + tls + "admin.crt --tls-key " +
                          tls + "admin.key node list -o json 2>&1",
                      std::chrono::seconds(8));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  json j = json::parse(r.output);
  ASSERT_EQ(j["nodes"].size(), 3u) << r.output;
  int reachable = 0;
  for (const auto& n : j["nodes"]) {
    if (n["reachable"].get<bool>()) {
      ++reachable;
      EXPECT_EQ(n["id"], "node-1");
      continue;
    }
    const std::string error = n["error"];
    const std::string address = n["control"];
    EXPECT_TRUE(address == down || address == hung) << r.output;
    EXPECT_THAT(error, HasSubstr(address));
    EXPECT_THAT(error, HasSubstr("not reachable"));
  }
  EXPECT_EQ(reachable, 1) << r.output;
}

TEST_F(CtlVolumeTest, NodeListShowsEveryNode) {
  json j = CtlJson("node list");
  ASSERT_EQ(j["nodes"].size(), 3u);
  std::set<std::string> ids;
  for (const auto& n : j["nodes"]) {
    ids.insert(n["id"]);
    EXPECT_TRUE(n["reachable"].get<bool>());
    EXPECT_EQ(n["error"], "");
    EXPECT_FALSE(n["nbd"].get<std::string>().empty());
  }
  EXPECT_EQ(ids, (std::set<std::string>{"node-1", "node-2", "node-3"}));
  auto table = Ctl("node list");
  EXPECT_EQ(table.exit_code, 0);
  EXPECT_THAT(table.output, HasSubstr("ID"));
  EXPECT_THAT(table.output, HasSubstr("zone-c"));
}

TEST_F(CtlVolumeTest, CreateShowListExportDelete) {
  json created = CtlJson("volume create life --size 16M --replicas 3");
  EXPECT_EQ(created["id"], "life");
  EXPECT_EQ(created["size_bytes"], 16u << 20);
  EXPECT_EQ(created["epoch"], 1);
  ASSERT_EQ(created["replicas"].size(), 3u);
  std::set<std::string> nodes;
  for (const auto& r : created["replicas"]) nodes.insert(r["node"]);
  EXPECT_EQ(nodes.size(), 3u) << "one replica per zone";
  EXPECT_EQ(created["primary"], created["replicas"][0]["node"]);

  json shown = CtlJson("volume show life");
  EXPECT_EQ(shown["primary"], created["primary"]);
  std::string primary = shown["primary"];
  EXPECT_EQ(shown["nbd_uri"], "nbds://" + NbdOf(primary) + "/life");
  for (const auto& r : shown["replicas"]) {
    EXPECT_TRUE(r.contains("resync")) << r.dump();
    EXPECT_TRUE(r["resync"].contains("bytes_copied"));
    EXPECT_TRUE(r["resync"].contains("eta_seconds"));
  }

  auto exported = Ctl("export life");
  ASSERT_EQ(exported.exit_code, 0) << exported.output;
  EXPECT_EQ(exported.output, "nbds://" + NbdOf(primary) + "/life\n") << "one line, nothing else";
  if (HaveTool("nbdinfo")) {
    auto size = RunCommand("nbdinfo --size " + Export("life"));
    EXPECT_EQ(size.exit_code, 0) << size.output;
    EXPECT_EQ(size.output, std::to_string(16u << 20) + "\n");
  }

  bool listed = false;
  json volumes = CtlJson("volume list");
  for (const auto& v : volumes["volumes"]) listed |= v["id"] == "life";
  EXPECT_TRUE(listed);
  EXPECT_THAT(Ctl("volume list").output, MatchesRegex("(.|\n)*life +16.0 MiB +[0-9]/3(.|\n)*"));

  auto deleted = Ctl("volume delete life");
  EXPECT_EQ(deleted.exit_code, 0) << deleted.output;
  auto gone = Ctl("volume show life");
  EXPECT_EQ(gone.exit_code, 3);  // not found
  EXPECT_THAT(gone.output, StartsWith("syncblock ctl: volume life not found; "));
  EXPECT_THAT(gone.output, HasSubstr("volume list` lists the volumes\n"));
  EXPECT_EQ(Ctl("volume delete life").exit_code, 0) << "deleting what is gone is OK";
  volumes = CtlJson("volume list");
  for (const auto& v : volumes["volumes"]) EXPECT_NE(v["id"], "life");
}

TEST_F(CtlVolumeTest, CreateIsIdempotentAndConflictIsAnError) {
  ASSERT_EQ(Ctl("volume create twice --size 8M --replicas 2").exit_code, 0);
  json same = CtlJson("volume create twice --size 8M --replicas 2");
  EXPECT_EQ(same["id"], "twice");
  EXPECT_EQ(same["replicas"].size(), 2u);
  auto other = Ctl("volume create twice --size 16M --replicas 2");
  EXPECT_EQ(other.exit_code, 1);
  EXPECT_THAT(other.output, HasSubstr("already exists"));
  EXPECT_EQ(Ctl("volume create twice --size 8M --replicas 3").exit_code, 1);
  EXPECT_EQ(Ctl("volume delete twice").exit_code, 0);
}

TEST_F(CtlVolumeTest, ErrorsAreOneClearLine) {
  auto unknown = Ctl("volume show no-such-volume");
  EXPECT_EQ(unknown.exit_code, 3);  // not found
  EXPECT_THAT(unknown.output, StartsWith("syncblock ctl: volume no-such-volume not found; "));
  EXPECT_EQ(std::count(unknown.output.begin(), unknown.output.end(), '\n'), 1);
  EXPECT_EQ(Ctl("export no-such-volume").exit_code, 3);
  EXPECT_EQ(Ctl("verify no-such-volume").exit_code, 3);

  auto bad_size = Ctl("volume create bad --size 12Q");
  EXPECT_EQ(bad_size.exit_code, 2);
  EXPECT_THAT(bad_size.output, HasSubstr("syncblock ctl: flag --size: '12Q'"));
  auto unaligned = Ctl("volume create bad --size 1000");
  EXPECT_EQ(unaligned.exit_code, 1);
  EXPECT_THAT(unaligned.output, HasSubstr("not a multiple of 4096"));
  auto six = Ctl("volume create bad --size 1G --replicas 6");
  EXPECT_EQ(six.exit_code, 1);
  EXPECT_THAT(six.output, HasSubstr("replicas must be 1..5, got 6"));
  EXPECT_EQ(Ctl("volume create bad --size 1G --replicas 0").exit_code, 1);
  auto four = Ctl("volume create bad --size 1G --replicas 4");
  EXPECT_EQ(four.exit_code, 1);
  EXPECT_THAT(four.output, HasSubstr("only 3 of 3 qualify"));
  auto huge = Ctl("volume create bad --size 1P --replicas 1");
  EXPECT_EQ(huge.exit_code, 1);
  EXPECT_THAT(huge.output, HasSubstr("only 0 of 3 qualify"));
  auto zone = Ctl("volume create bad --size 8M --replicas 1 --zones mars");
  EXPECT_EQ(zone.exit_code, 1);
  EXPECT_THAT(zone.output, HasSubstr("in zones mars"));
  json volumes = CtlJson("volume list");
  for (const auto& v : volumes["volumes"]) EXPECT_NE(v["id"], "bad");

  EXPECT_EQ(Ctl("volume create").exit_code, 2);
  EXPECT_EQ(Ctl("volume frob x").exit_code, 2);
  auto no_cluster =
      RunCommand(SyncblockBinary() + " ctl --cluster " + dir_->Join("nope") + " volume list");
  EXPECT_EQ(no_cluster.exit_code, 3);  // not found
  EXPECT_THAT(no_cluster.output, HasSubstr("no local cluster in"));
  EXPECT_THAT(no_cluster.output, HasSubstr("start one with `syncblock local up --dir"));
}

TEST_F(CtlVolumeTest, VerifyResyncAndResyncStatus) {
  ASSERT_EQ(Ctl("volume create sync --size 16M --replicas 3").exit_code, 0);
  if (HaveTool("qemu-io")) {
    auto w = RunCommand("qemu-io -f raw -c 'write -P 0x3c 0 8M' " + Export("sync"));
    ASSERT_EQ(w.exit_code, 0) << w.output;
  }
  WaitInSync("sync");
  json verify = CtlJson("verify sync");
  EXPECT_EQ(verify["identical"], true) << verify.dump();
  EXPECT_GT(verify["region_size"].get<uint64_t>(), 0u);
  EXPECT_TRUE(verify["differing_regions"].empty());
  EXPECT_TRUE(verify["unreachable"].empty());

  json status = CtlJson("resync-status sync");
  EXPECT_EQ(status["volume"], "sync");
  ASSERT_EQ(status["replicas"].size(), 3u);
  for (const auto& r : status["replicas"]) {
    for (const char* key : {"node", "state", "bytes_copied", "bytes_total", "rate_bytes_per_second",
                            "eta_seconds", "full"}) {
      EXPECT_TRUE(r.contains(key)) << key << " in " << r.dump();
    }
  }

  std::string secondary = status["replicas"][1]["node"];
  auto resync = Ctl("resync sync " + secondary + " --full");
  ASSERT_EQ(resync.exit_code, 0) << resync.output;
  WaitInSync("sync");
  json after = CtlJson("resync-status sync");
  for (const auto& r : after["replicas"]) {
    EXPECT_EQ(r["state"], "in_sync");
    if (r["node"] == secondary) {
      // A full copy covers the whole volume.
      EXPECT_EQ(r["bytes_total"], 16u << 20) << r.dump();
      EXPECT_EQ(r["bytes_copied"], r["bytes_total"]);
    }
  }
  EXPECT_EQ(Ctl("verify sync").exit_code, 0);
  auto self = Ctl("resync sync " + after["replicas"][0]["node"].get<std::string>());
  EXPECT_EQ(self.exit_code, 1) << "the primary is the source, not a target";
  EXPECT_EQ(Ctl("volume delete sync").exit_code, 0);
}

TEST_F(CtlVolumeTest, ReplicaAddRemoveAndPromote) {
  // No witness: node-3, the only other node, is to hold data.
  json v = CtlJson("volume create moves --size 8M --replicas 2 --nodes node-1,node-2 --no-witness");
  EXPECT_TRUE(v["witness"].is_null()) << v.dump(2);
  EXPECT_EQ(v["primary"], "node-1");
  bool qemu = HaveTool("qemu-io");
  if (qemu) {
    auto w = RunCommand("qemu-io -f raw -c 'write -P 0x77 0 2M' " + Export("moves"));
    ASSERT_EQ(w.exit_code, 0) << w.output;
  }

  json added = CtlJson("replica add moves node-3");
  EXPECT_EQ(added["replicas"].size(), 3u);
  WaitInSync("moves");
  EXPECT_EQ(Ctl("verify moves").exit_code, 0);

  auto primary = Ctl("replica remove moves node-1");
  EXPECT_EQ(primary.exit_code, 1);
  EXPECT_THAT(primary.output, HasSubstr("promote another replica first"));
  json removed = CtlJson("replica remove moves node-2");
  ASSERT_EQ(removed["replicas"].size(), 2u);
  for (const auto& r : removed["replicas"]) EXPECT_NE(r["node"], "node-2");
  EXPECT_EQ(Ctl("replica remove moves node-2").exit_code, 3) << "no longer a member: not found";

  json promoted = CtlJson("promote moves node-3");
  EXPECT_EQ(promoted["primary"], "node-3");
  EXPECT_GT(promoted["epoch"].get<uint64_t>(), 1u);
  EXPECT_EQ(Export("moves"), "nbds://" + NbdOf("node-3") + "/moves");
  if (qemu) {
    auto r = RunCommand("qemu-io -f raw -c 'read -P 0x77 0 2M' " + Export("moves"));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_THAT(r.output, ::testing::Not(HasSubstr("Pattern verification failed")));
  }
  EXPECT_EQ(Ctl("volume delete moves").exit_code, 0);
}

}  // namespace
}  // namespace syncblock::testing
