#include "tests/support/network_partition.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

namespace syncblock::testing {
namespace {

constexpr char kPrefix[] = "sbt-";

// The cgroup v2 mount point, "" when there is none.
std::string Cgroup2Mount() {
  std::ifstream in("/proc/self/mounts");
  std::string dev, dir, type, rest;
  while (in >> dev >> dir >> type && std::getline(in, rest)) {
    if (type == "cgroup2") return dir;
  }
  return "";
}

// This process's cgroup v2 path ("/" or "/a/b"), "" when unknown.
std::string OwnCgroup() {
  std::ifstream in("/proc/self/cgroup");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("0::", 0) == 0) return line.substr(3);
  }
  return "";
}

int PortOf(const std::string& host_port) {
  auto colon = host_port.rfind(':');
  return colon == std::string::npos ? 0 : std::atoi(host_port.c_str() + colon + 1);
}

bool PidAlive(int pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno != ESRCH); }

// The pid an sbt-<pid>-<n> name carries, 0 when it is not such a name.
int OwnerPid(const std::string& name) {
  if (name.rfind(kPrefix, 0) != 0) return 0;
  return std::atoi(name.c_str() + std::strlen(kPrefix));
}

std::vector<std::string> Subdirs(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    struct stat st;
    if (::stat((dir + "/" + name).c_str(), &st) == 0 && S_ISDIR(st.st_mode)) out.push_back(name);
  }
  ::closedir(d);
  return out;
}

// Moves every process of cgroup `dir` into the cgroup whose procs file is
// `to_procs`, then removes `dir` (children first).
void RemoveCgroup(const std::string& dir, const std::string& to_procs) {
  for (const auto& child : Subdirs(dir)) RemoveCgroup(dir + "/" + child, to_procs);
  for (int attempt = 0; attempt < 50; ++attempt) {
    std::ifstream in(dir + "/cgroup.procs");
    for (std::string pid; in >> pid;) {
      std::ofstream out(to_procs);
      out << pid << "\n";
    }
    if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::cerr << "network partition: could not remove cgroup " << dir << ": " << std::strerror(errno)
            << "\n";
}

}  // namespace

NetworkPartition::NetworkPartition(const LocalCluster& cluster) : cluster_(cluster) {
  if (!Setup() && error_.empty()) error_ = "network partition: setup failed";
}

bool NetworkPartition::Iptables(const std::string& args, std::string* output) {
  CommandResult r = RunCommand("iptables -w 30 " + args, std::chrono::seconds(60));
  if (output) *output = r.output;
  if (r.exit_code != 0 && !output) {
    std::cerr << "network partition: iptables " << args << ": " << r.output << "\n";
  }
  return r.exit_code == 0;
}

void NetworkPartition::RemoveStale(const std::string& cgroup_parent) {
  CommandResult rules = RunCommand("iptables -w 30 -S", std::chrono::seconds(60));
  std::istringstream lines(rules.output);
  std::vector<std::string> dead_chains;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(std::string("-N ") + kPrefix, 0) != 0) continue;
    std::string chain = line.substr(3);
    if (!PidAlive(OwnerPid(chain))) dead_chains.push_back(chain);
  }
  for (const auto& chain : dead_chains) {
    RunCommand("iptables -w 30 -D OUTPUT -j " + chain + "; iptables -w 30 -F " + chain +
               "; iptables -w 30 -X " + chain);
  }
  for (const auto& name : Subdirs(cgroup_parent)) {
    int pid = OwnerPid(name);
    if (pid > 0 && !PidAlive(pid)) {
      RemoveCgroup(cgroup_parent + "/" + name, cgroup_parent + "/cgroup.procs");
    }
  }
}

bool NetworkPartition::Setup() {
  if (::geteuid() != 0) {
    error_ = "network partition needs root (cgroups and iptables); euid is " +
             std::to_string(::geteuid());
    return false;
  }
  if (!HaveTool("iptables")) {
    error_ = "network partition needs iptables, which is not on PATH (apt-get install iptables)";
    return false;
  }
  const std::string mount = Cgroup2Mount();
  const std::string own = OwnCgroup();
  if (mount.empty() || own.empty()) {
    error_ =
        "network partition needs a cgroup v2 hierarchy: none is mounted (/proc/self/mounts) "
        "or this process is in none (/proc/self/cgroup)";
    return false;
  }
  const std::string parent = own == "/" ? mount : mount + own;
  parent_procs_ = parent + "/cgroup.procs";
  RemoveStale(parent);

  static int counter = 0;
  const std::string name = kPrefix + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  const std::string path_prefix = (own == "/" ? "" : own.substr(1) + "/") + name;
  root_dir_ = parent + "/" + name;
  if (::mkdir(root_dir_.c_str(), 0755) != 0) {
    error_ = "network partition: cannot make cgroup " + root_dir_ + ": " + std::strerror(errno);
    root_dir_.clear();
    return false;
  }
  chain_ = name;
  std::string out;
  if (!Iptables("-N " + chain_, &out)) {
    error_ = "network partition: iptables -N " + chain_ + " failed: " + out;
    return false;
  }
  chain_made_ = true;
  // The cgroup match is what everything rests on: try it before anything.
  if (!Iptables("-A " + chain_ + " -p tcp -m cgroup --path " + path_prefix +
                    " -d 127.0.0.1 --dport 1 -j DROP",
                &out)) {
    error_ =
        "network partition: iptables has no usable cgroup match (xt_cgroup, cgroup v2 "
        "path " +
        path_prefix + "): " + out;
    return false;
  }
  if (!Iptables("-F " + chain_) || !Iptables("-I OUTPUT 1 -j " + chain_, &out)) {
    error_ = "network partition: cannot hook " + chain_ + " into OUTPUT: " + out;
    return false;
  }
  jump_made_ = true;

  nlohmann::json file =
      nlohmann::json::parse(ReadFile(cluster_.dir() + "/cluster.json"), nullptr, false);
  if (!file.is_object() || !file.contains("storage")) {
    error_ = "network partition: no storage nodes in " + cluster_.dir() + "/cluster.json";
    return false;
  }
  for (const auto& s : file["storage"]) {
    Node n;
    const std::string id = s.value("id", "");
    n.cgroup_dir = root_dir_ + "/" + id;
    n.cgroup_path = path_prefix + "/" + id;
    n.ports = {PortOf(s.value("control", "")), PortOf(s.value("replication", ""))};
    if (::mkdir(n.cgroup_dir.c_str(), 0755) != 0) {
      error_ =
          "network partition: cannot make cgroup " + n.cgroup_dir + ": " + std::strerror(errno);
      return false;
    }
    nodes_[id] = n;
  }
  // A socket keeps the cgroup it was made in: the nodes must start there.
  for (const auto& [id, n] : nodes_) {
    if (!cluster_.Kill(id)) {
      error_ = "network partition: local kill " + id + " failed";
      return false;
    }
    if (!Start(id)) {
      error_ = "network partition: could not restart " + id + " in cgroup " + n.cgroup_dir;
      return false;
    }
    if (ReadFile(n.cgroup_dir + "/cgroup.procs").empty()) {
      error_ = "network partition: " + id + " restarted but is not in " + n.cgroup_dir;
      return false;
    }
  }
  return true;
}

NetworkPartition::~NetworkPartition() {
  if (jump_made_) Iptables("-D OUTPUT -j " + chain_);
  if (chain_made_) {
    Iptables("-F " + chain_);
    Iptables("-X " + chain_);
  }
  if (!root_dir_.empty()) RemoveCgroup(root_dir_, parent_procs_);
}

bool NetworkPartition::CutOneWay(const std::vector<std::string>& from,
                                 const std::vector<std::string>& to) {
  for (const auto& f : from) {
    for (const auto& t : to) {
      auto fi = nodes_.find(f), ti = nodes_.find(t);
      if (fi == nodes_.end() || ti == nodes_.end()) {
        std::cerr << "network partition: unknown node " << (fi == nodes_.end() ? f : t) << "\n";
        return false;
      }
      for (int port : ti->second.ports) {
        if (!Iptables("-A " + chain_ + " -p tcp -m cgroup --path " + fi->second.cgroup_path +
                      " -d 127.0.0.1 --dport " + std::to_string(port) + " -j DROP")) {
          return false;
        }
      }
    }
  }
  return true;
}

bool NetworkPartition::Cut(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  return CutOneWay(a, b) && CutOneWay(b, a);
}

bool NetworkPartition::Heal() { return Iptables("-F " + chain_); }

bool NetworkPartition::Start(const std::string& node) const {
  auto it = nodes_.find(node);
  if (it == nodes_.end()) return false;
  CommandResult r =
      RunCommand("echo $$ > '" + it->second.cgroup_dir + "/cgroup.procs' && exec " +
                     SyncblockBinary() + " local start --dir " + cluster_.dir() + " " + node,
                 std::chrono::seconds(60));
  if (r.exit_code != 0) std::cerr << "local start " << node << " failed: " << r.output << "\n";
  return r.exit_code == 0;
}

}  // namespace syncblock::testing
