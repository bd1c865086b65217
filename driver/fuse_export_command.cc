// `syncblock fuse-export`: serves an NBD export as the file `disk` in a FUSE
// mount (replication/initiator/fuse_export.h), for the node plugin's fuse
// attach path. The plugin starts it detached; it is a command of the
// syncblock binary so that the node image needs nothing else. SIGHUP re-reads the export's size.
// With
// --volume-id and --control-addresses it follows the volume's primary.
#include <cstdio>
#include <set>
#include <string>

#include "absl/strings/str_split.h"
#include "driver/commands.h"
#include "driver/flags.h"
#include "driver/tls_flags.h"
#include "replication/initiator/fuse_export.h"
#include "spdlog/spdlog.h"

namespace syncblock::driver {
namespace {

constexpr char kUsage[] =
    "usage: syncblock fuse-export --mountpoint DIR --uri nbd://HOST:PORT/EXPORT\n"
    "                             [--connections N] [--readonly] [--pidfile FILE]\n"
    "                             [--volume-id ID --control-addresses HOST:PORT,...]\n"
    "                             [--failover-timeout SECONDS] [--uri-file FILE]\n"
    "                             [--tls-ca F --tls-cert F --tls-key F | --insecure]\n"
    "\n"
    "Serves the NBD export as DIR/disk until DIR is unmounted (or SIGTERM).\n"
    "SIGHUP reconnects and re-reads the export's size, so the file can grow.\n"
    "  --connections        NBD connections for parallel requests (default 8; 1\n"
    "                       when the server does not allow multi-connection)\n"
    "  --pidfile            written once the mount is in place\n"
    "  --volume-id          the volume served; with --control-addresses (the\n"
    "                       storage nodes' control API), IO that loses the primary\n"
    "                       is held while the new primary is found, then resent;\n"
    "                       without them, only --uri is reconnected to\n"
    "  --failover-timeout   how long IO is held before it fails with EIO\n"
    "                       (default 120)\n"
    "  --uri-file           the URI served now, rewritten after each failover\n"
    "  --tls-ca/--tls-cert/--tls-key, --insecure\n"
    "                       the certificate for the control API (needed with\n"
    "                       --control-addresses; the CSI node plugin passes its own)\n";

int Usage(const std::string& why) {
  std::fprintf(stderr, "syncblock fuse-export: %s\n\n%s", why.c_str(), kUsage);
  return 2;
}

}  // namespace

int RunFuseExport(int argc, char** argv) {
  auto flags = Flags::Parse(argc, argv, {"readonly", "help", kInsecureFlag});
  if (!flags.ok()) return Usage(std::string(flags.status().message()));
  if (flags->GetBool("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  std::set<std::string> known = {"mountpoint", "uri",       "connections",       "readonly",
                                 "pidfile",    "volume-id", "control-addresses", "failover-timeout",
                                 "uri-file",   "help"};
  known.insert(TlsFlagNames().begin(), TlsFlagNames().end());
  if (auto st = flags->CheckKnown(known); !st.ok()) return Usage(std::string(st.message()));
  // The storage nodes' control API (asked for a new primary) speaks TLS.
  if (flags->Has("control-addresses")) {
    auto tls = LoadTlsFlags(*flags, "fuse-export");
    if (!tls.ok()) return Usage(std::string(tls.status().message()));
  }
  repl::initiator::FuseExportOptions options;
  options.mountpoint = flags->Get("mountpoint");
  options.uri = flags->Get("uri");
  options.readonly = flags->GetBool("readonly");
  options.pidfile = flags->Get("pidfile");
  options.volume_id = flags->Get("volume-id");
  options.control_addresses =
      absl::StrSplit(flags->Get("control-addresses"), ',', absl::SkipWhitespace());
  options.uri_file = flags->Get("uri-file");
  auto timeout = flags->GetInt("failover-timeout", 120);
  if (!timeout.ok()) return Usage(std::string(timeout.status().message()));
  if (*timeout < 1) return Usage("--failover-timeout must be at least 1 (seconds)");
  options.failover_timeout = std::chrono::seconds(*timeout);
  auto connections = flags->GetInt("connections", options.connections);
  if (!connections.ok()) return Usage(std::string(connections.status().message()));
  if (*connections < 1 || *connections > 64) return Usage("--connections must be 1..64");
  options.connections = static_cast<int>(*connections);
  if (options.mountpoint.empty() || options.uri.empty()) {
    return Usage("--mountpoint and --uri are required");
  }
  absl::Status st = repl::initiator::RunFuseExport(options);
  if (!st.ok()) {
    spdlog::error("fuse-export {} at {}: {}", options.uri, options.mountpoint, st.ToString());
    return 1;
  }
  return 0;
}

}  // namespace syncblock::driver
