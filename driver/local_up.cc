// `syncblock local up`: starts a whole cluster on this machine (N storage
// nodes on free loopback ports, and the CSI plugin when it is built) and
// returns once every storage node answers.
#include "driver/local_up.h"

#include <filesystem>
#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "driver/local_daemons.h"
#include "driver/local_process.h"
#include "driver/local_tls.h"
#include "driver/output_table.h"
#include "replication/security/grpc_credentials.h"
#include "replication/util/status_macros.h"

namespace syncblock::driver {

namespace {

constexpr int kMaxNodes = 16;

std::string DefaultZone(int index) {
  // zone-a, zone-b, ... zone-z, zone-aa, ...
  std::string suffix;
  for (int n = index + 1; n > 0; n = (n - 1) / 26) {
    suffix.insert(suffix.begin(), static_cast<char>('a' + (n - 1) % 26));
  }
  return "zone-" + suffix;
}

absl::Status CheckNotRunning(const std::string& dir) {
  auto existing = LoadCluster(dir);
  if (!existing.ok()) return absl::OkStatus();
  for (const auto& s : existing->storage) {
    if (IsSyncblockProcess(s.pid)) {
      return absl::FailedPreconditionError(
          absl::StrCat("a local cluster is already running in ", dir, " (", s.id, " is pid ", s.pid,
                       "); run `syncblock local down --dir ", dir, "` first"));
    }
  }
  if (IsSyncblockProcess(existing->csi.pid)) {
    return absl::FailedPreconditionError(
        absl::StrCat("the csi process of the local cluster in ", dir, " is still running (pid ",
                     existing->csi.pid, "); run `syncblock local down --dir ", dir, "` first"));
  }
  return absl::OkStatus();
}

void StopAll(LocalCluster& cluster) {
  std::vector<pid_t> pids;
  for (auto& s : cluster.storage) pids.push_back(s.pid);
  if (cluster.csi.pid > 0) pids.push_back(cluster.csi.pid);
  StopProcesses(pids, std::chrono::seconds(10));
  for (auto& s : cluster.storage) {
    s.pid = 0;
    s.state = "stopped";
  }
  if (cluster.csi.pid > 0) {
    cluster.csi.pid = 0;
    cluster.csi.state = "stopped";
  }
}

}  // namespace

std::vector<std::string> LocalZones(int nodes, const std::vector<std::string>& given) {
  std::vector<std::string> zones;
  for (int i = 0; i < nodes; ++i) {
    zones.push_back(given.empty() ? DefaultZone(i) : given[i % given.size()]);
  }
  return zones;
}

absl::Status LocalUp(const Flags& flags) {
  if (!flags.Has("dir")) return absl::InvalidArgumentError("local up needs --dir DIR");
  ASSIGN_OR_RETURN(int64_t nodes, flags.GetInt("nodes", 3));
  if (nodes < 1 || nodes > kMaxNodes) {
    return absl::InvalidArgumentError(absl::StrCat("--nodes must be 1..", kMaxNodes));
  }
  LocalOptions options;
  if (flags.Has("resync-rate")) {
    RETURN_IF_ERROR(flags.GetSize("resync-rate", 0).status());
    options.resync_rate = flags.Get("resync-rate");
  }
  ASSIGN_OR_RETURN(options.io_timeout_ms, flags.GetInt("io-timeout-ms", 0));
  ASSIGN_OR_RETURN(options.lease_ms, flags.GetInt("lease-ms", 0));
  options.log_level = flags.Get("log-level");
  ASSIGN_OR_RETURN(int64_t ready_timeout, flags.GetInt("timeout", 30));
  std::vector<std::string> given_zones =
      absl::StrSplit(flags.Get("zones"), ',', absl::SkipWhitespace());
  auto zones = LocalZones(static_cast<int>(nodes), given_zones);

  std::error_code ec;
  std::string dir = std::filesystem::absolute(flags.Get("dir"), ec).lexically_normal().string();
  if (!dir.empty() && dir.back() == '/') dir.pop_back();
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("creating ", dir, ": ", ec.message()));
  // Held until `up` returns: a concurrent `local start|kill|down` waits.
  ASSIGN_OR_RETURN(ClusterLock lock, ClusterLock::Acquire(dir));
  RETURN_IF_ERROR(CheckNotRunning(dir));
  ASSIGN_OR_RETURN(std::string binary, SelfExecutable());

  LocalCluster cluster;
  bool restarting = false;
  auto previous_cluster = LoadCluster(dir);
  if (previous_cluster.ok() && !previous_cluster->storage.empty()) {
    // Restarted processes keep their certificates (their command lines name them).
    cluster.tls = previous_cluster->tls;
  } else if (flags.GetBool("insecure")) {
    cluster.tls.insecure = true;
  } else {
    std::vector<std::string> ids;
    for (int i = 0; i < nodes; ++i) ids.push_back(StorageNodeId(i));
    ASSIGN_OR_RETURN(cluster.tls,
                     MakeLocalCertificates(dir, ids, flags.Get("csi-node-id", ids.front()),
                                           flags.Get("ca-from")));
  }
  if (cluster.tls.insecure) {
    std::cerr << "syncblock local: warning: --insecure: every process of this cluster speaks "
                 "plaintext and authenticates nobody\n";
  }
  options.tls = cluster.tls;
  // `up` waits for the nodes as the cluster's admin.
  security::SetProcessTlsFiles(cluster.tls.Admin());
  if (auto& previous = previous_cluster; previous.ok() && !previous->storage.empty()) {
    restarting = true;
    // The replicas' member lists name the old ports: the same nodes come back
    // on them, with their data.
    if (flags.Has("nodes") && static_cast<size_t>(nodes) != previous->storage.size()) {
      return absl::FailedPreconditionError(absl::StrCat(
          dir, " holds a cluster of ", previous->storage.size(),
          " nodes; `syncblock local down --dir ", dir, " --purge` first to start one of ", nodes));
    }
    std::cout << "restarting the local cluster in " << dir << "\n";
    cluster.storage = previous->storage;
  } else {
    for (int i = 0; i < nodes; ++i) {
      ASSIGN_OR_RETURN(auto node, PlanStorageNode(binary, dir, i, zones[i], options));
      cluster.storage.push_back(std::move(node));
    }
  }
  absl::Status failure;
  // The ports were free when picked, but another process may take one before
  // a node binds it: a new cluster then tries other ports (a restarted one
  // must keep its own, which its replicas' member lists name).
  for (int attempt = 1;; ++attempt) {
    std::vector<LocalProcess*> started;
    failure = absl::OkStatus();
    for (auto& node : cluster.storage) {
      failure = StartStorageNode(node);
      if (!failure.ok()) break;
      started.push_back(&node);
    }
    // Recorded before waiting, so `local down` can clean up whatever happens next.
    RETURN_IF_ERROR(SaveCluster(dir, cluster));
    if (failure.ok()) failure = WaitStorageReady(started, std::chrono::seconds(ready_timeout));
    if (failure.ok()) break;
    StopAll(cluster);
    RETURN_IF_ERROR(SaveCluster(dir, cluster));
    if (restarting || attempt == 3 ||
        !absl::StrContains(failure.message(), "Address already in use")) {
      return failure;
    }
    std::cout << "a port was taken meanwhile; starting on other ports\n";
    for (size_t i = 0; i < cluster.storage.size(); ++i) {
      std::filesystem::remove_all(cluster.storage[i].data_dir, ec);
      ASSIGN_OR_RETURN(cluster.storage[i],
                       PlanStorageNode(binary, dir, static_cast<int>(i), zones[i], options));
    }
  }

  if (!flags.GetBool("no-csi")) {
    auto csi =
        StartCsi(binary, dir, cluster.ControlAddresses(),
                 flags.Get("csi-node-id", cluster.storage.front().id), cluster.tls, cluster.csi);
    if (!csi.ok()) {
      if (flags.GetBool("require-csi")) {
        StopAll(cluster);
        RETURN_IF_ERROR(SaveCluster(dir, cluster));
        return csi;
      }
      std::cerr << "syncblock local: warning: " << csi.message() << "\n";
    }
  }
  RETURN_IF_ERROR(SaveCluster(dir, cluster));

  Table t({"ID", "ZONE", "PID", "CONTROL", "NBD", "LOG"});
  for (const auto& s : cluster.storage) {
    t.AddRow({s.id, s.zone, absl::StrCat(s.pid), s.control, s.nbd, s.log});
  }
  std::cout << t.Render();
  if (cluster.csi.state == "running") {
    std::cout << "csi: " << cluster.csi.endpoint << " (pid " << cluster.csi.pid << ")\n";
  }
  std::cout << "cluster ready: syncblock ctl --cluster " << dir << " node list\n";
  return absl::OkStatus();
}

}  // namespace syncblock::driver
