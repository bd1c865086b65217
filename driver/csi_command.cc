// `syncblock csi`: the CSI plugin. --mode controller serves Identity,
// Controller, GroupController and SnapshotMetadata, node serves Identity and
// Node, all serves the five, on one unix socket. Stops cleanly on SIGTERM/SIGINT (the socket
// file is removed).
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "csi/controller_service.h"
#include "csi/csi_constants.h"
#include "csi/csi_server.h"
#include "csi/group_controller_service.h"
#include "csi/identity_service.h"
#include "csi/node/node_service.h"
#include "csi/node_directory.h"
#include "csi/primary_placer.h"
#include "csi/snapshot_metadata_service.h"
#include "csi/storage_endpoints.h"
#include "driver/commands.h"
#include "driver/flags.h"
#include "driver/tls_flags.h"
#include "replication/client/storage_cluster.h"
#include "replication/client/witness_keeper.h"
#include "replication/initiator/nbd_tls.h"
#include "replication/remote/remote_sync_scheduler.h"
#include "replication/security/grpc_credentials.h"
#include "replication/util/periodic_thread.h"

// The executable target defines the version; the library that holds this file
// may not (see the report to the lead).
#ifndef SYNCBLOCK_VERSION
#define SYNCBLOCK_VERSION "unknown"
#endif

namespace syncblock::driver {
namespace {

constexpr char kCsiUsage[] =
    "usage: syncblock csi --mode controller|node|all --endpoint unix:///path/csi.sock\n"
    "                     --storage-nodes host:port,...|dns:NAME:PORT --node-id NAME\n"
    "                     [--state-dir DIR] [--zone Z] [--attach auto|nbd|fuse]\n"
    "                     [--max-volumes N] [--known-nodes kubernetes|ID,...]\n"
    "                     [--witness-replace-after S] [--no-maintenance]\n"
    "                     [--log-level info]\n"
    "                     --tls-ca F --tls-cert F --tls-key F | --insecure\n"
    "                     [--node-tls-cert F --node-tls-key F]  (--mode all: the node\n"
    "                     plugin's own identity for NBD, role node)\n"
    "\n"
    "  --mode           services to serve: controller (Identity, Controller,\n"
    "                   GroupController, SnapshotMetadata), node (Identity,\n"
    "                   Node) or all\n"
    "  --endpoint       the unix socket the CO connects to (a stale one is removed)\n"
    "  --storage-nodes  control addresses of the storage nodes; dns:NAME:PORT means\n"
    "                   every A record of NAME, looked up each time it is needed\n"
    "  --node-id        this node's id for NodeGetInfo (required for node and all)\n"
    "  --state-dir      where the node plugin records attachments\n"
    "                   (default /var/lib/syncblock/csi-node)\n"
    "  --zone           this node's zone, reported as topology.csi.syncblock.dev/zone\n"
    "  --attach         how the node attaches volumes (default auto: kernel NBD when\n"
    "                   the nbd module is there, else `syncblock fuse-export`\n"
    "                   + loop device)\n"
    "  --max-volumes    volumes this node may have staged, reported by NodeGetInfo\n"
    "                   (default: the attach path's limit: the nbd devices the\n"
    "                   module made, or 128 fuse exports)\n"
    "  --known-nodes    the node ids ControllerPublishVolume accepts: \"kubernetes\"\n"
    "                   (the cluster's CSINode objects; the default in a pod) or a\n"
    "                   comma-separated list; --mode all also knows its own\n"
    "                   --node-id. Other nodes are NOT_FOUND\n"
    "  --witness-replace-after S\n"
    "                   (controller) move a volume's witness to another node once\n"
    "                   its node has been unreachable for S seconds (default 60;\n"
    "                   0: never)\n"
    "  --no-maintenance (controller) serve only: another controller moves witnesses,\n"
    "                   brings dataLocality primaries home and runs the volumes'\n"
    "                   remote syncs (ctl volume replicate)\n"
    "  --log-level      trace|debug|info|warn|error (default info)\n"
    "\n"
    "TLS towards the storage nodes (mutual, on by default; the certificate's role\n"
    "is controller for --mode controller|all, node for --mode node; the CSI socket\n"
    "itself is a local unix socket and stays plaintext, as the CSI spec has it):\n";

int g_stop_pipe[2] = {-1, -1};

void OnStopSignal(int sig) {
  // write(2) is async-signal-safe; nothing else is done here.
  ssize_t ignored = write(g_stop_pipe[1], &sig, sizeof(sig));
  (void)ignored;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "syncblock csi: %s\n", message.c_str());
  return 2;
}

}  // namespace

int RunCsi(int argc, char** argv) {
  auto flags = Flags::Parse(argc, argv, {kInsecureFlag});
  if (!flags.ok()) return Fail(std::string(flags.status().message()));
  if (flags->Has("help")) {
    std::fputs(kCsiUsage, stdout);
    std::fputs(kTlsFlagsUsage, stdout);
    return 0;
  }
  std::set<std::string> known = {"mode",
                                 "endpoint",
                                 "storage-nodes",
                                 "node-id",
                                 "state-dir",
                                 "zone",
                                 "attach",
                                 "max-volumes",
                                 "known-nodes",
                                 "log-level",
                                 "witness-replace-after",
                                 "no-maintenance"};
  known.insert(TlsFlagNames().begin(), TlsFlagNames().end());
  known.insert({"node-tls-cert", "node-tls-key"});
  if (auto s = flags->CheckKnown(known); !s.ok()) {
    return Fail(std::string(s.message()));
  }
  const std::string mode = flags->Get("mode");
  if (mode != "controller" && mode != "node" && mode != "all") {
    return Fail("--mode must be controller, node or all");
  }
  const bool serve_controller = mode != "node";
  const bool serve_node = mode != "controller";
  if (!flags->Has("endpoint")) return Fail("--endpoint is required");
  if (!flags->Has("storage-nodes")) return Fail("--storage-nodes is required");
  if (serve_node && flags->Get("node-id").empty()) {
    return Fail("--node-id is required with --mode node or all");
  }
  const std::string level = flags->Get("log-level", "info");
  auto spd_level = spdlog::level::from_str(level);
  if (spd_level == spdlog::level::off && level != "off") {
    return Fail("--log-level must be trace, debug, info, warn, error or off");
  }
  spdlog::set_level(spd_level);
  const std::string self = absl::StrCat("csi ", mode, serve_node ? " " : "", flags->Get("node-id"));
  auto tls = LoadTlsFlags(*flags, self);
  if (!tls.ok()) return Fail(std::string(tls.status().message()));
  // One process serving both sides (--mode all, as `local up` runs it) talks
  // to storage nodes as the controller, but opens volumes over NBD as the
  // node plugin of its node: the NBD port lets a node open only what is
  // published to it.
  if (flags->Has("node-tls-cert") || flags->Has("node-tls-key")) {
    if (!serve_node || tls->insecure || !flags->Has("node-tls-cert") ||
        !flags->Has("node-tls-key")) {
      return Fail("--node-tls-cert and --node-tls-key go together, with --mode all and TLS");
    }
    security::TlsFiles node_files{tls->ca, flags->Get("node-tls-cert"), flags->Get("node-tls-key")};
    auto node_identity = security::CheckTlsFiles(node_files);
    if (!node_identity.ok()) return Fail(std::string(node_identity.status().message()));
    spdlog::info("{}: the node plugin opens volumes as {}", self, node_identity->ToString());
    repl::initiator::SetNbdClientTls(node_files);
  }

  auto endpoints = csi::StorageEndpoints::Parse(flags->Get("storage-nodes"));
  if (!endpoints.ok()) return Fail(std::string(endpoints.status().message()));
  auto cluster = std::make_shared<csi::ClusterProvider>(*endpoints);

  std::vector<grpc::Service*> services;
  csi::IdentityService identity(SYNCBLOCK_VERSION, cluster, serve_controller);
  services.push_back(&identity);
  std::unique_ptr<csi::ControllerService> controller;
  std::unique_ptr<csi::SnapshotMetadataService> snapshot_metadata;
  std::unique_ptr<PeriodicThread> chores;
  // The scheduler outlives its tick thread (declared first, destroyed last).
  std::unique_ptr<repl::RemoteSyncScheduler> remote_sync;
  std::unique_ptr<PeriodicThread> remote_sync_tick;
  std::unique_ptr<csi::GroupControllerService> group_controller;
  if (serve_controller) {
    auto known = csi::MakeNodeDirectory(flags->Get("known-nodes", ""),
                                        serve_node ? flags->Get("node-id") : "");
    if (!known.ok()) return Fail(std::string(known.status().message()));
    controller = std::make_unique<csi::ControllerService>(cluster, std::move(*known));
    services.push_back(controller.get());
    // Changed-block tracking, for an external-snapshot-metadata sidecar
    // next to this process, on the same socket.
    snapshot_metadata = std::make_unique<csi::SnapshotMetadataService>(cluster);
    services.push_back(snapshot_metadata.get());
    int64_t replace_after = 60;
    if (flags->Has("witness-replace-after") &&
        (!absl::SimpleAtoi(flags->Get("witness-replace-after"), &replace_after) ||
         replace_after < 0)) {
      return Fail("--witness-replace-after must be a number of seconds (0: never)");
    }
    // The controller's chores: every 10 s (or half the witness's grace),
    // lost witnesses move and dataLocality primaries go home.
    repl::WitnessKeeperOptions wk;
    wk.replace_after = std::chrono::seconds(replace_after);
    auto get = [cluster] { return cluster->Get(); };
    auto keeper = std::make_shared<repl::WitnessKeeper>(get, wk);
    auto placer = std::make_shared<csi::PrimaryPlacer>(get);
    std::chrono::milliseconds interval(10000);
    if (replace_after > 0) interval = std::min(interval, wk.replace_after / 2);
    if (!flags->GetBool("no-maintenance")) {
      chores = std::make_unique<PeriodicThread>(interval, [keeper, placer, replace_after] {
        if (replace_after > 0) keeper->RunOnce(std::chrono::steady_clock::now());
        placer->RunOnce();
      });
      // Remote syncs: each volume's cycle when its interval comes
      // (replication/doc/remote_sync.md), to within the 2 s tick.
      remote_sync = std::make_unique<repl::RemoteSyncScheduler>(
          [cluster]() -> std::shared_ptr<repl::StorageCluster> {
            auto c = cluster->Get();
            return c.ok() ? *c : nullptr;
          },
          [](const repl::RemoteView& r) -> std::shared_ptr<repl::StorageCluster> {
            return repl::StorageCluster::Connect(r.storage_nodes);
          });
      remote_sync_tick = std::make_unique<PeriodicThread>(
          std::chrono::seconds(2), [s = remote_sync.get()] { s->RunOnce(); });
    }
    // Group snapshots (VolumeGroupSnapshot), for the csi-snapshotter.
    group_controller = std::make_unique<csi::GroupControllerService>(cluster);
    services.push_back(group_controller.get());
  }
  std::unique_ptr<::csi::v1::Node::Service> node;
  if (serve_node) {
    csi::NodeServiceOptions options;
    options.node_id = flags->Get("node-id");
    // Storage nodes without a zone are in "default": a node plugin without one
    // must report the same, or topology-aware provisioning finds no match.
    options.zone = flags->Get("zone", "");
    if (options.zone.empty() && flags->Has("zone")) options.zone = "default";
    if (flags->Has("state-dir")) options.state_dir = flags->Get("state-dir");
    options.attach_mode = flags->Get("attach", "auto");
    if (flags->Has("max-volumes")) {
      int64_t max = 0;
      if (!absl::SimpleAtoi(flags->Get("max-volumes"), &max) || max <= 0) {
        return Fail("--max-volumes must be a positive number");
      }
      options.max_volumes = max;
    }
    csi::StorageEndpoints node_endpoints = *endpoints;
    options.storage_control_addresses = [node_endpoints]() {
      auto addresses = node_endpoints.Resolve();
      return addresses.ok() ? *addresses : std::vector<std::string>{};
    };
    options.unlock_volume = [node_endpoints](const std::string& volume_id,
                                             const std::string& secret) -> absl::Status {
      auto addresses = node_endpoints.Resolve();
      if (!addresses.ok()) return addresses.status();
      return repl::StorageCluster::Connect(*addresses)->UnlockVolume(volume_id, secret).status();
    };
    auto made = csi::MakeNodeService(options);
    if (!made.ok()) return Fail(std::string(made.status().message()));
    node = std::move(*made);
    services.push_back(node.get());
  }

  auto server = csi::CsiServer::Start(flags->Get("endpoint"), services);
  if (!server.ok()) return Fail(std::string(server.status().message()));
  spdlog::info("syncblock csi {} ({}) serving {} on {}", SYNCBLOCK_VERSION, csi::kDriverName, mode,
               (*server)->socket_path());

  // A process signal goes to any thread that does not block it, and not every
  // thread is ours (gRPC, the node service), so the handler only writes to a
  // pipe and a thread of ours does the shutdown.
  if (pipe2(g_stop_pipe, O_CLOEXEC) != 0) return Fail("pipe2 failed");
  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);
  std::thread waiter([srv = server->get(), &tls, &self] {
    int sig = 0;
    for (;;) {
      while (read(g_stop_pipe[0], &sig, sizeof(sig)) < 0 && errno == EINTR) {
      }
      if (sig != SIGHUP) break;
      ReportTlsReload(*tls, self);
    }
    spdlog::info("syncblock csi: signal {}, shutting down", sig);
    srv->Shutdown();
  });
  (*server)->Wait();
  waiter.join();
  server->reset();
  spdlog::info("syncblock csi: stopped");
  return 0;
}

}  // namespace syncblock::driver
