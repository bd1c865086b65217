// `syncblock local up|down|kill|start|status` against the real binary and the
// real storage daemon: processes, ports, cluster.json, and cleanup.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "tests/support/local_cluster.h"
#include "tests/support/test_util.h"

namespace syncblock::testing {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

// A pid that still runs (not a zombie).
bool Running(int pid) {
  if (pid <= 0) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  auto paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] != 'Z';
}

// A local cluster in a temporary directory; `local down` and, should that
// fail, SIGKILL for every pid it ever recorded, whatever the test did.
class LocalClusterDir {
 public:
  LocalClusterDir() : bin_(SyncblockBinary()) {}
  ~LocalClusterDir() {
    RunCommand(Cmd("local down --dir " + dir_.path()), std::chrono::seconds(60));
    Remember();
    for (int pid : pids_) {
      if (Running(pid)) kill(pid, SIGKILL);
    }
  }

  const std::string& dir() const { return dir_.path(); }
  std::string Cmd(const std::string& args) const { return bin_ + " " + args; }

  CommandResult Local(const std::string& args) {
    auto r = RunCommand(Cmd("local " + args), std::chrono::seconds(120));
    Remember();
    return r;
  }
  CommandResult Up(const std::string& flags = "--no-csi") {
    CommandResult r = Local("up --dir " + dir() + " " + flags);
    UseClusterNbdCertificates(dir());
    return r;
  }
  CommandResult Ctl(const std::string& args) {
    return RunCommand(Cmd("ctl --cluster " + dir() + " " + args), std::chrono::seconds(180));
  }
  json ClusterJson() const {
    try {
      return json::parse(ReadFile(dir_.Join("cluster.json")));
    } catch (const json::exception& e) {
      ADD_FAILURE() << "cluster.json: " << e.what();
      return json::object();
    }
  }
  // Every pid cluster.json has named so far.
  void Remember() {
    std::string text = ReadFile(dir_.Join("cluster.json"));
    if (text.empty()) return;
    try {
      json j = json::parse(text);
      for (const auto& s : j["storage"]) pids_.insert(s.value("pid", 0));
      if (j["csi"].contains("pid")) pids_.insert(j["csi"].value("pid", 0));
    } catch (const json::exception&) {
    }
    pids_.erase(0);
  }
  const std::set<int>& pids() const { return pids_; }

 private:
  std::string bin_;
  TempDir dir_;
  std::set<int> pids_;
};

TEST(ClusterLocalTest, UpStartsEveryNodeAndRecordsIt) {
  LocalClusterDir c;
  auto up = c.Up("--nodes 3 --no-csi");
  ASSERT_EQ(up.exit_code, 0) << up.output;
  json j = c.ClusterJson();
  ASSERT_EQ(j["storage"].size(), 3u);
  std::set<std::string> ports;
  for (size_t i = 0; i < 3; ++i) {
    const auto& s = j["storage"][i];
    EXPECT_EQ(s["id"], "node-" + std::to_string(i + 1));
    EXPECT_EQ(s["zone"], std::string("zone-") + static_cast<char>('a' + i));
    EXPECT_TRUE(Running(s["pid"].get<int>())) << s.dump();
    for (const char* key : {"control", "replication", "nbd", "metrics"}) {
      std::string address = s[key];
      EXPECT_THAT(address, ::testing::StartsWith("127.0.0.1:"));
      ports.insert(address);
    }
    EXPECT_EQ(s["data_dir"], c.dir() + "/data/node-" + std::to_string(i + 1));
    EXPECT_TRUE(std::filesystem::is_directory(s["data_dir"].get<std::string>()));
    EXPECT_TRUE(std::filesystem::exists(s["log"].get<std::string>()));
  }
  EXPECT_EQ(ports.size(), 12u) << "every port distinct";
  EXPECT_TRUE(j["csi"].empty()) << "--no-csi starts no csi process";

  auto nodes = c.Ctl("node list -o json");
  ASSERT_EQ(nodes.exit_code, 0) << nodes.output;
  json n = json::parse(nodes.output);
  ASSERT_EQ(n["nodes"].size(), 3u);
  for (const auto& node : n["nodes"]) {
    EXPECT_TRUE(node["reachable"].get<bool>()) << node.dump();
    EXPECT_GT(node["available_bytes"].get<uint64_t>(), 0u);
  }
  EXPECT_EQ(n["nodes"][1]["zone"], "zone-b");

  auto status = c.Local("status --dir " + c.dir());
  EXPECT_EQ(status.exit_code, 0);
  EXPECT_THAT(status.output, HasSubstr("node-2  zone-b  running"));

  auto again = c.Up("--no-csi");
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.output, HasSubstr("already running"));
}

TEST(ClusterLocalTest, ZonesAndNodeCountFlags) {
  LocalClusterDir c;
  auto up = c.Up("--nodes 4 --zones east,west --no-csi");
  ASSERT_EQ(up.exit_code, 0) << up.output;
  json j = c.ClusterJson();
  ASSERT_EQ(j["storage"].size(), 4u);
  EXPECT_EQ(j["storage"][0]["zone"], "east");
  EXPECT_EQ(j["storage"][1]["zone"], "west");
  EXPECT_EQ(j["storage"][2]["zone"], "east");
  auto nodes = c.Ctl("node list -o json");
  ASSERT_EQ(nodes.exit_code, 0) << nodes.output;
  EXPECT_EQ(json::parse(nodes.output)["nodes"][3]["zone"], "west");
}

TEST(ClusterLocalTest, KillAndStartKeepPortsAndData) {
  LocalClusterDir c;
  ASSERT_EQ(c.Up("--no-csi").exit_code, 0);
  auto create = c.Ctl("volume create kv --size 16M --replicas 3");
  ASSERT_EQ(create.exit_code, 0) << create.output;
  bool have_qemu = HaveTool("qemu-io");
  std::string uri;
  if (have_qemu) {
    auto exported = c.Ctl("export kv");
    ASSERT_EQ(exported.exit_code, 0) << exported.output;
    uri = exported.output.substr(0, exported.output.find('\n'));
    auto w = RunCommand("qemu-io -f raw -c 'write -P 0x5a 0 4M' " + uri);
    ASSERT_EQ(w.exit_code, 0) << w.output;
  }

  json before = c.ClusterJson();
  int old_pid = before["storage"][2]["pid"];
  std::string control = before["storage"][2]["control"];
  auto killed = c.Local("kill --dir " + c.dir() + " node-3");
  ASSERT_EQ(killed.exit_code, 0) << killed.output;
  EXPECT_FALSE(Running(old_pid));
  json after = c.ClusterJson();
  EXPECT_EQ(after["storage"][2]["pid"], 0);
  EXPECT_EQ(after["storage"][2]["state"], "killed");
  EXPECT_THAT(c.Local("status --dir " + c.dir()).output, HasSubstr("node-3  zone-c  killed"));

  if (have_qemu) {
    // Written while node-3 is down: only the resync can bring it there.
    auto w = RunCommand("qemu-io -f raw -c 'write -P 0xa5 4M 4M' " + uri);
    ASSERT_EQ(w.exit_code, 0) << w.output;
    EXPECT_TRUE(WaitFor(
        [&] {
          auto show = c.Ctl("volume show kv -o json");
          if (show.exit_code != 0) return false;
          json v = json::parse(show.output);
          for (const auto& r : v["replicas"]) {
            if (r["node"] == "node-3") return r["state"] != "in_sync";
          }
          return false;
        },
        std::chrono::seconds(60)))
        << "the primary still reports the killed node-3 in sync";
  }

  auto started = c.Local("start --dir " + c.dir() + " node-3");
  ASSERT_EQ(started.exit_code, 0) << started.output;
  json restarted = c.ClusterJson();
  int new_pid = restarted["storage"][2]["pid"];
  EXPECT_TRUE(Running(new_pid));
  EXPECT_NE(new_pid, old_pid);
  EXPECT_EQ(restarted["storage"][2]["control"], control);
  EXPECT_EQ(restarted["storage"][2]["state"], "running");
  auto again = c.Local("start --dir " + c.dir() + " node-3");
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_THAT(again.output, HasSubstr("already running"));

  auto watch = c.Ctl("resync-status kv --watch --interval-ms 200 --timeout 120");
  ASSERT_EQ(watch.exit_code, 0) << watch.output;
  EXPECT_THAT(watch.output, HasSubstr("all replicas in sync"));
  auto verify = c.Ctl("verify kv");
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  if (have_qemu) {
    auto r = RunCommand("qemu-io -f raw -c 'read -P 0x5a 0 4M' -c 'read -P 0xa5 4M 4M' " + uri);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_THAT(r.output, ::testing::Not(HasSubstr("Pattern verification failed")));
  }

  auto unknown = c.Local("kill --dir " + c.dir() + " node-9");
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(unknown.output, HasSubstr("no storage node node-9"));
}

// Running storage daemons of node `id` of the cluster in `dir` (by their
// --data-dir argument), whatever cluster.json says.
std::vector<int> NodeProcesses(const std::string& dir, const std::string& id) {
  std::vector<int> out;
  const std::string data_dir = dir + "/data/" + id;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream cmdline(entry.path() / "cmdline");
    std::string all((std::istreambuf_iterator<char>(cmdline)), std::istreambuf_iterator<char>());
    std::vector<std::string> argv;
    for (size_t pos = 0; pos < all.size();) {
      size_t end = all.find('\0', pos);
      if (end == std::string::npos) end = all.size();
      argv.push_back(all.substr(pos, end - pos));
      pos = end + 1;
    }
    for (size_t i = 0; i + 1 < argv.size(); ++i) {
      if (argv[i] == "--data-dir" && argv[i + 1] == data_dir && Running(std::stoi(name))) {
        out.push_back(std::stoi(name));
      }
    }
  }
  return out;
}

// Three `local start` of one node at once: one process runs, cluster.json
// records that one, and `local kill` then leaves none (it used to record a
// pid that had died of "Address already in use" and miss the live one).
TEST(ClusterLocalTest, ParallelStartsRunOneProcessAndRecordIt) {
  LocalClusterDir c;
  ASSERT_EQ(c.Up("--no-csi --nodes 1").exit_code, 0);
  ASSERT_EQ(c.Local("kill --dir " + c.dir() + " node-1").exit_code, 0);
  ASSERT_TRUE(NodeProcesses(c.dir(), "node-1").empty());

  std::string start = c.Cmd("local start --dir " + c.dir() + " node-1");
  auto r = RunCommand("(" + start + " > " + c.dir() + "/s1.out 2>&1; echo $? >> " + c.dir() +
                          "/s1.out) & (" + start + " > " + c.dir() + "/s2.out 2>&1; echo $? >> " +
                          c.dir() + "/s2.out) & (" + start + " > " + c.dir() +
                          "/s3.out 2>&1; echo $? >> " + c.dir() + "/s3.out) & wait",
                      std::chrono::seconds(120));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  c.Remember();
  std::string outputs;
  for (const char* name : {"s1.out", "s2.out", "s3.out"}) {
    std::string out = ReadFile(c.dir() + "/" + name);
    outputs += out;
    EXPECT_TRUE(out.find("started node-1") != std::string::npos ||
                out.find("already running") != std::string::npos)
        << out;
    EXPECT_EQ(out.substr(out.size() - 2), "0\n") << out;
  }
  std::vector<int> live = NodeProcesses(c.dir(), "node-1");
  ASSERT_EQ(live.size(), 1u) << outputs;
  json j = c.ClusterJson();
  EXPECT_EQ(j["storage"][0]["pid"], live[0]) << outputs;
  EXPECT_EQ(j["storage"][0]["state"], "running");
  EXPECT_NE(outputs.find("pid " + std::to_string(live[0])), std::string::npos) << outputs;

  auto killed = c.Local("kill --dir " + c.dir() + " node-1");
  ASSERT_EQ(killed.exit_code, 0) << killed.output;
  EXPECT_TRUE(WaitFor([&] { return NodeProcesses(c.dir(), "node-1").empty(); }))
      << "local kill missed a live node-1";
}

// A node whose ports are held by a process cluster.json does not know of
// (here: the same node started by hand) exits at once; `local start` says so
// with its log instead of reporting the dead pid as started.
TEST(ClusterLocalTest, StartReportsANodeThatDiedAtOnce) {
  LocalClusterDir c;
  ASSERT_EQ(c.Up("--no-csi --nodes 1").exit_code, 0);
  json j = c.ClusterJson();
  std::vector<std::string> args = j["storage"][0]["args"];
  ASSERT_EQ(c.Local("kill --dir " + c.dir() + " node-1").exit_code, 0);

  Subprocess stray(args, c.dir() + "/stray.log");
  ASSERT_TRUE(WaitFor(
      [&] {
        auto list = c.Ctl("node list -o json");
        return list.exit_code == 0 && list.output.find("\"reachable\": true") != std::string::npos;
      },
      std::chrono::seconds(60)))
      << ReadFile(c.dir() + "/stray.log");

  auto started = c.Local("start --dir " + c.dir() + " node-1");
  EXPECT_EQ(started.exit_code, 1) << started.output;
  EXPECT_THAT(started.output, HasSubstr("exited"));
  EXPECT_THAT(started.output, HasSubstr("already in use"));
  json after = c.ClusterJson();
  EXPECT_EQ(after["storage"][0]["pid"], 0);
  EXPECT_NE(after["storage"][0]["state"], "running");
  EXPECT_TRUE(stray.Running());
}

TEST(ClusterLocalTest, DownLeavesNoProcessAndPurgeRemovesData) {
  LocalClusterDir c;
  // With the CSI plugin when it starts; `up` must succeed either way.
  auto up = c.Up("");
  ASSERT_EQ(up.exit_code, 0) << up.output;
  json j = c.ClusterJson();
  std::string csi_state = j["csi"].value("state", "");
  EXPECT_TRUE(csi_state == "running" || csi_state == "absent") << j["csi"].dump();
  if (csi_state == "running") {
    struct stat st;
    EXPECT_EQ(stat((c.dir() + "/csi.sock").c_str(), &st), 0);
    EXPECT_EQ(j["csi"]["controller"], "unix://" + c.dir() + "/csi.sock");
  } else {
    EXPECT_FALSE(j["csi"].value("error", "").empty());
  }
  std::set<int> pids = c.pids();
  ASSERT_GE(pids.size(), 3u);

  auto down = c.Local("down --dir " + c.dir());
  ASSERT_EQ(down.exit_code, 0) << down.output;
  for (int pid : pids) EXPECT_FALSE(Running(pid)) << "pid " << pid << " survived local down";
  json stopped = c.ClusterJson();
  for (const auto& s : stopped["storage"]) {
    EXPECT_EQ(s["pid"], 0);
    EXPECT_EQ(s["state"], "stopped");
  }
  EXPECT_TRUE(std::filesystem::is_directory(c.dir() + "/data/node-1")) << "down keeps the data";

  auto purge = c.Local("down --dir " + c.dir() + " --purge");
  ASSERT_EQ(purge.exit_code, 0) << purge.output;
  EXPECT_FALSE(std::filesystem::exists(c.dir() + "/data"));
  EXPECT_FALSE(std::filesystem::exists(c.dir() + "/cluster.json"));
}

TEST(ClusterLocalTest, DataKeptAcrossDownAndUp) {
  LocalClusterDir c;
  ASSERT_EQ(c.Up("--no-csi").exit_code, 0);
  ASSERT_EQ(c.Ctl("volume create keep --size 8M --replicas 2").exit_code, 0);
  ASSERT_EQ(c.Local("down --dir " + c.dir()).exit_code, 0);
  auto up = c.Up("--no-csi");
  ASSERT_EQ(up.exit_code, 0) << up.output;
  auto show = c.Ctl("volume show keep -o json");
  ASSERT_EQ(show.exit_code, 0) << show.output;
  EXPECT_EQ(json::parse(show.output)["size_bytes"], 8u << 20);
}

TEST(ClusterLocalTest, UsageAndSetupErrors) {
  LocalClusterDir c;
  auto no_dir = c.Local("up");
  EXPECT_EQ(no_dir.exit_code, 2);
  EXPECT_THAT(no_dir.output, HasSubstr("--dir"));
  EXPECT_EQ(c.Up("--nodes 0").exit_code, 2);
  EXPECT_EQ(c.Up("--resync-rate fast").exit_code, 2);
  EXPECT_EQ(c.Local("frobnicate --dir " + c.dir()).exit_code, 2);
  auto no_cluster = c.Local("status --dir " + c.dir());
  EXPECT_EQ(no_cluster.exit_code, 1);
  EXPECT_THAT(no_cluster.output, HasSubstr("no local cluster in " + c.dir()));

  // A file where node-1's data directory must go: up fails, naming it, and
  // leaves nothing running.
  std::filesystem::create_directories(c.dir() + "/data");
  WriteFile(c.dir() + "/data/node-1", "in the way");
  auto blocked = c.Up("--no-csi");
  EXPECT_EQ(blocked.exit_code, 1);
  EXPECT_THAT(blocked.output, HasSubstr("data/node-1"));
  for (int pid : c.pids()) EXPECT_FALSE(Running(pid));
}

}  // namespace
}  // namespace syncblock::testing
