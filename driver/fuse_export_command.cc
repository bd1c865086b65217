// `syncblock fuse-export`: serves an NBD export as the file `disk` in a FUSE
// mount (csi/node/fuse_export.h), for the node plugin's fuse attach path. The
// plugin starts it detached; it is a command of the syncblock binary so that
// the node image needs nothing else. SIGHUP re-reads the export's size.
#include <cstdio>
#include <string>

#include "csi/node/fuse_export.h"
#include "driver/commands.h"
#include "driver/flags.h"
#include "spdlog/spdlog.h"

namespace syncblock::driver {
namespace {

constexpr char kUsage[] =
    "usage: syncblock fuse-export --mountpoint DIR --uri nbd://HOST:PORT/EXPORT\n"
    "                             [--connections N] [--readonly] [--pidfile FILE]\n"
    "\n"
    "Serves the NBD export as DIR/disk until DIR is unmounted (or SIGTERM).\n"
    "SIGHUP reconnects and re-reads the export's size, so the file can grow.\n"
    "  --connections  NBD connections for parallel requests (default 8; 1 when\n"
    "                 the server does not allow multi-connection)\n"
    "  --pidfile      written once the mount is in place\n";

int Usage(const std::string& why) {
  std::fprintf(stderr, "syncblock fuse-export: %s\n\n%s", why.c_str(), kUsage);
  return 2;
}

}  // namespace

int RunFuseExport(int argc, char** argv) {
  auto flags = Flags::Parse(argc, argv, {"readonly", "help"});
  if (!flags.ok()) return Usage(std::string(flags.status().message()));
  if (flags->GetBool("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (auto st =
          flags->CheckKnown({"mountpoint", "uri", "connections", "readonly", "pidfile", "help"});
      !st.ok()) {
    return Usage(std::string(st.message()));
  }
  csi::FuseExportOptions options;
  options.mountpoint = flags->Get("mountpoint");
  options.uri = flags->Get("uri");
  options.readonly = flags->GetBool("readonly");
  options.pidfile = flags->Get("pidfile");
  auto connections = flags->GetInt("connections", options.connections);
  if (!connections.ok()) return Usage(std::string(connections.status().message()));
  if (*connections < 1 || *connections > 64) return Usage("--connections must be 1..64");
  options.connections = static_cast<int>(*connections);
  if (options.mountpoint.empty() || options.uri.empty()) {
    return Usage("--mountpoint and --uri are required");
  }
  absl::Status st = csi::RunFuseExport(options);
  if (!st.ok()) {
    spdlog::error("fuse-export {} at {}: {}", options.uri, options.mountpoint, st.ToString());
    return 1;
  }
  return 0;
}

}  // namespace syncblock::driver
