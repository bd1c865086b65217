// `syncblock storage`: runs a storage node until SIGTERM or SIGINT.
#include <grpcpp/grpcpp.h>
#include <malloc.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <set>

#include "absl/strings/str_cat.h"
#include "driver/commands.h"
#include "driver/flags.h"
#include "driver/http_endpoint.h"
#include "driver/signals.h"
#include "driver/tls_flags.h"
#include "replication/node/control_service.h"
#include "replication/node/elector.h"
#include "replication/node/metrics.h"
#include "replication/node/storage_node.h"
#include "replication/security/grpc_credentials.h"
#include "replication/store/failpoint_env.h"
#include "replication/util/logging.h"

namespace syncblock::driver {
namespace {

constexpr char kUsage[] =
    "usage: syncblock storage --node-id ID --data-dir DIR --listen HOST:PORT [flags]\n"
    "\n"
    "Runs a storage node: the replicas in DIR, the gRPC control API on --listen,\n"
    "the replication protocol, the NBD export of the volumes it is primary of, and\n"
    "/metrics and /healthz over HTTP.\n"
    "\n"
    "  --node-id ID               this node's name (stable across restarts)\n"
    "  --data-dir DIR             where replicas live\n"
    "  --listen HOST:PORT         control gRPC (default 127.0.0.1:7400)\n"
    "  --replication-listen H:P   replication protocol (default: listen port + 1)\n"
    "  --nbd-listen H:P           NBD export (default: listen port + 2)\n"
    "  --metrics-listen H:P       /metrics and /healthz (default: listen port + 3)\n"
    "  --advertise-host HOST      host other nodes and clients use (default: listen host)\n"
    "  --zone Z                   topology zone (default \"default\")\n"
    "  --io-timeout-ms N          writes no majority acknowledges fail after N ms (30000)\n"
    "  --resync-rate SIZE         resync bandwidth per replica per second, 0 = unlimited (256MiB)\n"
    "  --peer-queue SIZE          a replica this far behind is dropped to its dirty bitmap "
    "(64MiB)\n"
    "  --peer-stall-ms N          a replica silent this long with writes outstanding is dropped "
    "(5000)\n"
    "  --lease-ms N               a primary unheard this long by a majority is replaced by "
    "election (2000)\n"
    "  --no-failover              never elect a primary here (ctl promote still works)\n"
    "  --nbd-max-connections N    NBD clients served at once; more are refused (512)\n"
    "  --log-level LEVEL          trace|debug|info|warn|error (info)\n"
    "\n"
    "TLS (mutual, on by default; SIGHUP or a changed file rotates them):\n"
    "%s";

absl::StatusOr<HostPort> ListenFlag(const Flags& f, const std::string& name, const HostPort& base,
                                    int offset) {
  if (!f.Has(name)) {
    HostPort hp = base;
    if (hp.port != 0) hp.port += offset;
    return hp;
  }
  return ParseHostPort(f.Get(name));
}

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "syncblock storage: %s\n", std::string(s.message()).c_str());
  return 1;
}

}  // namespace

int RunStorage(int argc, char** argv) {
  // Request buffers (up to 32 MiB) come from the heap and are reused, instead
  // of glibc's default of a fresh mmap for each large one, whose page faults
  // and zero-filling took a third of a 1 MiB write's CPU time
  // (tests/bench/profile.sh). Up to 128 MiB freed stays for reuse.
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 128 << 20);
  auto flags = Flags::Parse(argc, argv, {kInsecureFlag});
  if (!flags.ok()) return Fail(flags.status());
  if (flags->Has("help")) {
    std::printf(kUsage, kTlsFlagsUsage);
    return 0;
  }
  std::set<std::string> known_flags = {
      "node-id",        "data-dir",       "listen",   "replication-listen", "nbd-listen",
      "metrics-listen", "advertise-host", "zone",     "io-timeout-ms",      "resync-rate",
      "peer-queue",     "peer-stall-ms",  "lease-ms", "no-failover",        "nbd-max-connections",
      "log-level"};
  known_flags.insert(TlsFlagNames().begin(), TlsFlagNames().end());
  absl::Status known = flags->CheckKnown(known_flags);
  if (!known.ok()) return Fail(known);
  if (!flags->Has("node-id") || !flags->Has("data-dir")) {
    std::fprintf(stderr, kUsage, kTlsFlagsUsage);
    return 2;
  }
  spdlog::set_level(spdlog::level::from_str(flags->Get("log-level", "info")));
  const std::string self = "storage node " + flags->Get("node-id");
  auto tls = LoadTlsFlags(*flags, self);
  if (!tls.ok()) return Fail(tls.status());
  auto listen = ParseHostPort(flags->Get("listen", "127.0.0.1:7400"));
  if (!listen.ok()) return Fail(listen.status());
  auto repl_listen = ListenFlag(*flags, "replication-listen", *listen, 1);
  auto nbd_listen = ListenFlag(*flags, "nbd-listen", *listen, 2);
  auto metrics_listen = ListenFlag(*flags, "metrics-listen", *listen, 3);
  auto io_timeout = flags->GetInt("io-timeout-ms", 30000);
  auto rate = flags->GetSize("resync-rate", 256ull << 20);
  auto peer_queue = flags->GetSize("peer-queue", 64ull << 20);
  auto peer_stall = flags->GetInt("peer-stall-ms", 5000);
  auto lease = flags->GetInt("lease-ms", 2000);
  auto nbd_max = flags->GetInt(
      "nbd-max-connections", static_cast<int64_t>(repl::NbdServerOptions::kDefaultMaxConnections));
  for (const absl::Status& s : {repl_listen.status(), nbd_listen.status(), metrics_listen.status(),
                                io_timeout.status(), rate.status(), peer_queue.status(),
                                peer_stall.status(), lease.status(), nbd_max.status()}) {
    if (!s.ok()) return Fail(s);
  }
  if (*nbd_max <= 0) {
    return Fail(absl::InvalidArgumentError("--nbd-max-connections must be positive"));
  }

  repl::StorageNodeOptions opts;
  opts.node_id = flags->Get("node-id");
  opts.tls = *tls;
  opts.zone = flags->Get("zone", "");
  if (opts.zone.empty()) opts.zone = "default";
  opts.data_dir = flags->Get("data-dir");
  opts.replication_listen = *repl_listen;
  opts.nbd_listen = *nbd_listen;
  opts.advertise_host = flags->Get("advertise-host");
  opts.engine.io_timeout = std::chrono::milliseconds(*io_timeout);
  opts.engine.resync_rate = *rate;
  if (*peer_queue < (4u << 20) || *peer_stall <= 0) {
    return Fail(absl::InvalidArgumentError(
        "--peer-queue must be at least 4MiB (a write is up to 32 MiB: more is better) and "
        "--peer-stall-ms positive"));
  }
  opts.engine.peer_queue_bytes = *peer_queue;
  opts.engine.peer_stall_timeout = std::chrono::milliseconds(*peer_stall);
  // Renewed every quarter over the replication links; shorter than 400 ms
  // leaves too little for a busy link, and a lease outliving the IO timeout
  // would hold IO past it.
  if (*lease < 400 || *lease > *io_timeout) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        "--lease-ms must be between 400 and --io-timeout-ms (", *io_timeout, "), not ", *lease)));
  }
  opts.engine.lease_duration = std::chrono::milliseconds(*lease);
  // Fault tests switch disk faults of the real daemon through a file.
  std::unique_ptr<repl::FailpointEnv> failpoints;
  if (const char* env = std::getenv("SYNCBLOCK_FAILPOINTS"); env && *env) {
    // "{node}" in the path stands for this node's id: one file per node.
    std::string path = env;
    if (auto at = path.find("{node}"); at != std::string::npos) path.replace(at, 6, opts.node_id);
    failpoints = std::make_unique<repl::FailpointEnv>(path);
    opts.engine.env = failpoints.get();
    spdlog::warn("failpoints enabled from {}: disk faults may be injected (tests only)", path);
  }
  opts.nbd.max_connections = static_cast<size_t>(*nbd_max);

  // Signals are taken by WaitForTerminationSignal; block them before any thread
  // starts so that every thread inherits the mask.
  BlockTerminationSignals();
  auto node = std::make_unique<repl::StorageNode>(opts);
  repl::ControlService control(node.get(), /*check_callers=*/tls->enabled());
  grpc::ServerBuilder builder;
  int control_port = 0;
  builder.AddListeningPort(listen->ToString(), security::GrpcServerCredentials(*tls),
                           &control_port);
  builder.SetMaxReceiveMessageSize(64 << 20);
  builder.RegisterService(&control);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || control_port == 0) {
    return Fail(absl::UnavailableError(absl::StrCat("cannot listen on ", listen->ToString())));
  }
  std::unique_ptr<repl::Elector> elector;
  if (!flags->Has("no-failover")) {
    repl::ElectorOptions eo;
    // A look a few times per lease: the election comes soon after it runs out.
    eo.interval = std::chrono::milliseconds(std::max<int64_t>(50, *lease / 10));
    elector = std::make_unique<repl::Elector>(*node, eo);
  }
  HttpEndpoint http(
      [&] { return repl::RenderNodeMetrics(*node, elector.get()); },
      [&] { return node->started() ? absl::OkStatus() : absl::UnavailableError("starting"); });
  if (absl::Status s = http.Start(metrics_listen->host, metrics_listen->port); !s.ok()) {
    return Fail(s);
  }
  // Port 0 resolves only once bound: advertise the real ports.
  auto advertise = [&](HostPort hp, int port) {
    hp.port = port;
    if (!opts.advertise_host.empty()) hp.host = opts.advertise_host;
    return hp.ToString();
  };
  node->SetServiceAddresses(advertise(*listen, control_port),
                            advertise(*metrics_listen, http.port()));
  if (absl::Status s = node->Start(); !s.ok()) return Fail(s);
  if (elector) elector->Start();
  spdlog::info("storage node {} ready: control {}, metrics {}", opts.node_id,
               node->options().control_address, node->options().metrics_address);

  WaitForTerminationSignal([&] { ReportTlsReload(*tls, self); });
  spdlog::info("storage node {} stopping", opts.node_id);
  if (elector) elector->Stop();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  http.Stop();
  node->Stop();
  return 0;
}

}  // namespace syncblock::driver
