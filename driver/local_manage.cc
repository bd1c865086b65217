#include "driver/local_manage.h"

#include <signal.h>

#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "driver/local_cluster_file.h"
#include "driver/local_daemons.h"
#include "driver/local_process.h"
#include "driver/output_table.h"
#include "replication/security/grpc_credentials.h"
#include "replication/util/status_macros.h"

namespace syncblock::driver {

namespace {

absl::StatusOr<std::string> Dir(const Flags& flags) {
  if (!flags.Has("dir")) return absl::InvalidArgumentError("--dir DIR is required");
  return flags.Get("dir");
}

absl::StatusOr<LocalProcess*> FindNode(LocalCluster& cluster, const std::string& dir,
                                       const std::string& node_id) {
  if (auto* node = cluster.Find(node_id)) return node;
  std::vector<std::string> ids;
  for (const auto& s : cluster.storage) ids.push_back(s.id);
  return absl::NotFoundError(absl::StrCat("no storage node ", node_id, " in the local cluster in ",
                                          dir, " (nodes: ", absl::StrJoin(ids, ", "), ")"));
}

// `local kill|start csi`: the CSI plugin rather than a storage node.
constexpr char kCsiProcessName[] = "csi";

// "running" only when the recorded pid still is that daemon.
std::string LiveState(const std::string& recorded, int pid) {
  if (recorded == "running" && !IsSyncblockProcess(pid)) return "dead";
  return recorded;
}

}  // namespace

absl::Status LocalDown(const Flags& flags) {
  ASSIGN_OR_RETURN(std::string dir, Dir(flags));
  ASSIGN_OR_RETURN(ClusterLock lock, ClusterLock::Acquire(dir));
  ASSIGN_OR_RETURN(auto cluster, LoadCluster(dir));
  std::vector<pid_t> pids;
  for (const auto& s : cluster.storage) {
    if (IsSyncblockProcess(s.pid)) pids.push_back(s.pid);
  }
  if (IsSyncblockProcess(cluster.csi.pid)) pids.push_back(cluster.csi.pid);
  StopProcesses(pids, std::chrono::seconds(10));
  for (auto& s : cluster.storage) {
    s.pid = 0;
    s.state = "stopped";
  }
  if (!cluster.csi.state.empty() && cluster.csi.state != "absent") {
    cluster.csi.pid = 0;
    cluster.csi.state = "stopped";
  }
  std::cout << "stopped " << pids.size() << " processes\n";
  if (!flags.GetBool("purge")) return SaveCluster(dir, cluster);
  std::error_code ec;
  for (const char* name : {"data", "logs", "csi-state", "csi.sock", "cluster.json"}) {
    std::filesystem::remove_all(std::filesystem::path(dir) / name, ec);
    if (ec)
      return absl::InternalError(absl::StrCat("removing ", dir, "/", name, ": ", ec.message()));
  }
  std::cout << "removed the data, logs and cluster.json in " << dir << "\n";
  return absl::OkStatus();
}

absl::Status LocalKill(const Flags& flags, const std::string& node_id) {
  ASSIGN_OR_RETURN(std::string dir, Dir(flags));
  ASSIGN_OR_RETURN(ClusterLock lock, ClusterLock::Acquire(dir));
  ASSIGN_OR_RETURN(auto cluster, LoadCluster(dir));
  if (node_id == kCsiProcessName) {
    // The CSI plugin (controller and node): what runs the remote syncs.
    if (IsSyncblockProcess(cluster.csi.pid)) {
      kill(cluster.csi.pid, SIGKILL);
      StopProcess(cluster.csi.pid, std::chrono::milliseconds(0));
      std::cout << "killed csi (pid " << cluster.csi.pid << ")\n";
    } else {
      std::cout << "csi was not running\n";
    }
    cluster.csi.pid = 0;
    if (!cluster.csi.state.empty()) cluster.csi.state = "killed";
    return SaveCluster(dir, cluster);
  }
  ASSIGN_OR_RETURN(LocalProcess * node, FindNode(cluster, dir, node_id));
  if (IsSyncblockProcess(node->pid)) {
    kill(node->pid, SIGKILL);
    // Zero grace: it is already dying; this only waits until it is gone.
    StopProcess(node->pid, std::chrono::milliseconds(0));
    std::cout << "killed " << node_id << " (pid " << node->pid << ")\n";
  } else {
    std::cout << node_id << " was not running\n";
  }
  node->pid = 0;
  node->state = "killed";
  return SaveCluster(dir, cluster);
}

absl::Status LocalStart(const Flags& flags, const std::string& node_id) {
  ASSIGN_OR_RETURN(std::string dir, Dir(flags));
  ASSIGN_OR_RETURN(ClusterLock lock, ClusterLock::Acquire(dir));
  ASSIGN_OR_RETURN(int64_t timeout, flags.GetInt("timeout", 30));
  ASSIGN_OR_RETURN(auto cluster, LoadCluster(dir));
  if (node_id == kCsiProcessName) {
    if (IsSyncblockProcess(cluster.csi.pid)) {
      std::cout << "csi is already running (pid " << cluster.csi.pid << ")\n";
      return absl::OkStatus();
    }
    if (cluster.csi.state.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("the local cluster in ", dir, " was started with --no-csi"));
    }
    ASSIGN_OR_RETURN(std::string binary, SelfExecutable());
    absl::Status started = StartCsi(binary, dir, cluster.ControlAddresses(), cluster.csi.node_id,
                                    cluster.tls, cluster.csi);
    RETURN_IF_ERROR(SaveCluster(dir, cluster));
    RETURN_IF_ERROR(started);
    std::cout << "started csi (pid " << cluster.csi.pid << ")\n";
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(LocalProcess * node, FindNode(cluster, dir, node_id));
  if (IsSyncblockProcess(node->pid)) {
    std::cout << node_id << " is already running (pid " << node->pid << ")\n";
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(StartStorageNode(*node));
  RETURN_IF_ERROR(SaveCluster(dir, cluster));
  security::SetProcessTlsFiles(cluster.tls.Admin());  // waits as the cluster's admin
  auto ready = WaitStorageReady({node}, std::chrono::seconds(timeout));
  if (!ready.ok()) {
    StopProcess(node->pid, std::chrono::seconds(5));
    node->pid = 0;
    node->state = "stopped";
    RETURN_IF_ERROR(SaveCluster(dir, cluster));
    return ready;
  }
  std::cout << "started " << node_id << " (pid " << node->pid << ") on " << node->control << "\n";
  return absl::OkStatus();
}

absl::Status LocalStatus(const Flags& flags) {
  ASSIGN_OR_RETURN(std::string dir, Dir(flags));
  ASSIGN_OR_RETURN(auto cluster, LoadCluster(dir));
  for (auto& s : cluster.storage) s.state = LiveState(s.state, s.pid);
  if (!cluster.csi.state.empty()) cluster.csi.state = LiveState(cluster.csi.state, cluster.csi.pid);
  if (flags.Get("output") == "json") {
    std::cout << ClusterToJson(cluster);
    return absl::OkStatus();
  }
  Table t({"ID", "ZONE", "STATE", "PID", "CONTROL", "NBD", "METRICS"});
  for (const auto& s : cluster.storage) {
    t.AddRow(
        {s.id, s.zone, s.state, s.pid ? absl::StrCat(s.pid) : "-", s.control, s.nbd, s.metrics});
  }
  std::cout << t.Render();
  if (cluster.csi.state.empty()) {
    std::cout << "csi: not started\n";
  } else if (cluster.csi.state == "absent") {
    std::cout << "csi: absent (" << cluster.csi.error << ")\n";
  } else {
    std::cout << "csi: " << cluster.csi.state << " on " << cluster.csi.endpoint << " (pid "
              << cluster.csi.pid << ")\n";
  }
  return absl::OkStatus();
}

}  // namespace syncblock::driver
