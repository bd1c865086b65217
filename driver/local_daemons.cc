#include "driver/local_daemons.h"

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "driver/local_process.h"
#include "driver/local_tls.h"
#include "replication/client/node_client.h"
#include "replication/security/tls_args.h"
#include "replication/util/status_macros.h"

namespace syncblock::driver {

namespace {

constexpr int kLogTailLines = 30;

absl::Status MakeDirs(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return absl::InternalError(absl::StrCat("creating ", path, ": ", ec.message()));
  return absl::OkStatus();
}

int PortOf(const std::string& host_port) {
  auto colon = host_port.rfind(':');
  return colon == std::string::npos ? 0 : std::atoi(host_port.c_str() + colon + 1);
}

absl::Status WithLogTail(const absl::Status& s, const std::string& log) {
  return absl::Status(s.code(), absl::StrCat(s.message(), "\n--- last lines of ", log, " ---\n",
                                             TailFile(log, kLogTailLines)));
}

}  // namespace

std::string StorageNodeId(int index) { return absl::StrCat("node-", index + 1); }

absl::StatusOr<LocalProcess> PlanStorageNode(const std::string& binary, const std::string& dir,
                                             int index, const std::string& zone,
                                             const LocalOptions& options) {
  ASSIGN_OR_RETURN(auto ports, FreePorts(4));
  LocalProcess p;
  p.id = StorageNodeId(index);
  p.zone = zone;
  p.control = absl::StrCat("127.0.0.1:", ports[0]);
  p.replication = absl::StrCat("127.0.0.1:", ports[1]);
  p.nbd = absl::StrCat("127.0.0.1:", ports[2]);
  p.metrics = absl::StrCat("127.0.0.1:", ports[3]);
  p.data_dir = absl::StrCat(dir, "/data/", p.id);
  p.log = absl::StrCat(dir, "/logs/", p.id, ".log");
  p.pid = 0;
  p.state = "stopped";
  RETURN_IF_ERROR(MakeDirs(p.data_dir));
  RETURN_IF_ERROR(MakeDirs(dir + "/logs"));
  p.args = {binary,
            "storage",
            "--node-id",
            p.id,
            "--data-dir",
            p.data_dir,
            "--listen",
            p.control,
            "--zone",
            p.zone,
            "--replication-listen",
            p.replication,
            "--nbd-listen",
            p.nbd,
            "--metrics-listen",
            p.metrics,
            "--advertise-host",
            "127.0.0.1"};
  if (!options.resync_rate.empty()) {
    p.args.insert(p.args.end(), {"--resync-rate", options.resync_rate});
  }
  if (options.lease_ms > 0) {
    p.args.insert(p.args.end(), {"--lease-ms", absl::StrCat(options.lease_ms)});
  }
  if (options.io_timeout_ms > 0) {
    p.args.insert(p.args.end(), {"--io-timeout-ms", absl::StrCat(options.io_timeout_ms)});
  }
  if (!options.log_level.empty()) p.args.insert(p.args.end(), {"--log-level", options.log_level});
  for (auto& arg : security::TlsArgs(LocalProcessTls(options.tls, p.id))) {
    p.args.push_back(std::move(arg));
  }
  return p;
}

absl::Status StartStorageNode(LocalProcess& node) {
  if (node.args.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(node.id, ": cluster.json has no command line for it"));
  }
  ASSIGN_OR_RETURN(pid_t pid, SpawnDetached(node.args, node.log));
  node.pid = pid;
  node.state = "running";
  return absl::OkStatus();
}

absl::Status WaitStorageReady(const std::vector<LocalProcess*>& nodes,
                              std::chrono::seconds timeout) {
  std::vector<std::unique_ptr<repl::NodeClient>> clients;
  for (auto* n : nodes) {
    clients.push_back(std::make_unique<repl::NodeClient>(n->control, std::chrono::seconds(1)));
  }
  std::vector<bool> ready(nodes.size(), false);
  std::vector<std::string> last_error(nodes.size(), "no answer yet");
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    bool all = true;
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (ready[i]) continue;
      int exit_status = 0;
      // Our own child: waitpid tells exactly when it is gone (reading /proc
      // races with its exec).
      if (ReapIfExited(nodes[i]->pid, &exit_status)) {
        return WithLogTail(
            absl::UnavailableError(absl::StrCat("storage node ", nodes[i]->id, " exited (status ",
                                                exit_status, ") before it was ready")),
            nodes[i]->log);
      }
      auto info = clients[i]->GetNodeInfo();
      // The answer must come from the process we started: another one (an
      // earlier instance nobody recorded) may hold the ports, and ours is then
      // about to exit with "Address already in use" (reported above). gRPC
      // binds the control port with SO_REUSEPORT, so ours may listen there
      // too until it fails on the next port: it is ours only once it listens
      // on every port.
      bool ours = true;
      for (const std::string* address :
           {&nodes[i]->control, &nodes[i]->metrics, &nodes[i]->replication, &nodes[i]->nbd}) {
        if (!address->empty()) ours = ours && ListensOn(nodes[i]->pid, PortOf(*address));
      }
      if (info.ok() && info->node_id() == nodes[i]->id && ours) {
        ready[i] = true;
        continue;
      }
      all = false;
      if (!info.ok()) {
        last_error[i] = std::string(info.status().message());
      } else if (info->node_id() != nodes[i]->id) {
        last_error[i] = absl::StrCat("answers as '", info->node_id(), "'");
      } else {
        last_error[i] = absl::StrCat("another process than pid ", nodes[i]->pid, " answers on ",
                                     nodes[i]->control);
      }
    }
    if (all) return absl::OkStatus();
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (ready[i]) continue;
    return WithLogTail(
        absl::DeadlineExceededError(absl::StrCat("storage node ", nodes[i]->id, " not ready after ",
                                                 timeout.count(), "s: ", last_error[i])),
        nodes[i]->log);
  }
  return absl::OkStatus();
}

absl::Status StartCsi(const std::string& binary, const std::string& dir,
                      const std::vector<std::string>& control_addresses, const std::string& node_id,
                      const LocalTls& tls, LocalCsi& csi) {
  std::string socket = dir + "/csi.sock";
  csi.endpoint = "unix://" + socket;
  csi.node_id = node_id;
  csi.log = dir + "/logs/csi.log";
  csi.args = {binary,       "csi",        "--mode",          "all",
              "--endpoint", csi.endpoint, "--storage-nodes", absl::StrJoin(control_addresses, ","),
              "--node-id",  node_id,      "--state-dir",     dir + "/csi-state"};
  for (auto& arg : security::TlsArgs(LocalProcessTls(tls, "controller"))) {
    csi.args.push_back(std::move(arg));
  }
  if (!tls.insecure) {
    security::TlsFiles node = LocalProcessTls(tls, CsiNodeCertName(node_id));
    csi.args.insert(csi.args.end(), {"--node-tls-cert", node.cert, "--node-tls-key", node.key});
  }
  RETURN_IF_ERROR(MakeDirs(dir + "/csi-state"));
  RETURN_IF_ERROR(MakeDirs(dir + "/logs"));
  auto absent = [&](const std::string& why) {
    csi.state = "absent";
    csi.pid = 0;
    csi.error = why;
    return absl::UnavailableError(absl::StrCat("csi not started: ", why, " (log: ", csi.log, ")"));
  };
  auto pid = SpawnDetached(csi.args, csi.log);
  if (!pid.ok()) return absent(std::string(pid.status().message()));
  csi.pid = *pid;
  csi.state = "running";
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < deadline) {
    int exit_status = 0;
    if (ReapIfExited(*pid, &exit_status)) {
      return absent(absl::StrCat("syncblock csi exited with status ", exit_status, ": ",
                                 TailFile(csi.log, 1)));
    }
    struct stat st;
    if (stat(socket.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) return absl::OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  StopProcess(*pid, std::chrono::seconds(2));
  return absent(absl::StrCat("no socket at ", socket, " after 15s"));
}

}  // namespace syncblock::driver
