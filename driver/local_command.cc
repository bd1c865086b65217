// `syncblock local`: run a whole cluster on this machine for trying syncblock
// out, the demo and the integration tests. Exit codes: 0 success, 1 failure,
// 2 usage error.
#include <iostream>

#include "absl/strings/str_cat.h"
#include "driver/commands.h"
#include "driver/flags.h"
#include "driver/local_manage.h"
#include "driver/local_up.h"

namespace syncblock::driver {

namespace {

constexpr char kUsage[] =
    "usage: syncblock local <command> --dir DIR [flags]\n"
    "\n"
    "commands:\n"
    "  up --dir DIR [--nodes 3] [--zones z1,z2,z3] [--resync-rate SIZE]\n"
    "     [--io-timeout-ms N] [--lease-ms N] [--log-level L] [--no-csi] [--require-csi]\n"
    "     [--csi-node-id ID] [--timeout 30] [--insecure] [--ca-from DIR2]\n"
    "                        start N storage nodes (node-1..N, zones zone-a, zone-b, ...\n"
    "                        unless --zones) on free 127.0.0.1 ports, data in DIR/data,\n"
    "                        logs in DIR/logs, and `syncblock csi --mode all` on\n"
    "                        DIR/csi.sock; writes DIR/cluster.json; returns when every\n"
    "                        node answers (--timeout seconds at most). TLS: a CA and\n"
    "                        every process's certificate in DIR/tls (admin.crt is\n"
    "                        ctl's, named in cluster.json); --insecure: none, all\n"
    "                        plaintext; --ca-from DIR2: share the CA of the local\n"
    "                        cluster in DIR2, so that each can be the other's remote\n"
    "  down --dir DIR [--purge]\n"
    "                        stop every process (SIGTERM, SIGKILL after 10 s); --purge\n"
    "                        also removes the data, logs and cluster.json\n"
    "  kill --dir DIR NODE-ID|csi\n"
    "                        kill -9 one storage node, or the CSI plugin\n"
    "  start --dir DIR NODE-ID|csi [--timeout 30]\n"
    "                        restart a storage node with its ports, data and certificate\n"
    "                        (or the CSI plugin),\n"
    "                        wait until\n"
    "                        it is ready\n"
    "  status --dir DIR [-o table|json]\n"
    "                        the processes and their state\n"
    "\n"
    "Then: syncblock ctl --cluster DIR volume list\n";

int Fail(const absl::Status& s) {
  std::cerr << "syncblock local: " << s.message() << "\n";
  return absl::IsInvalidArgument(s) ? 2 : 1;
}

}  // namespace

int RunLocal(int argc, char** argv) {
  auto flags = Flags::Parse(argc, argv, {"no-csi", "require-csi", "purge", "insecure"});
  if (!flags.ok()) return Fail(flags.status());
  const auto& words = flags->positional();
  if (words.empty() || flags->GetBool("help")) {
    (words.empty() && !flags->GetBool("help") ? std::cerr : std::cout) << kUsage;
    return words.empty() && !flags->GetBool("help") ? 2 : 0;
  }
  const std::string& cmd = words[0];
  auto check = [&](std::set<std::string> known, size_t args) -> absl::Status {
    known.insert("dir");
    if (auto s = flags->CheckKnown(known); !s.ok()) return s;
    if (words.size() != args + 1) {
      return absl::InvalidArgumentError(absl::StrCat("usage: syncblock local ", cmd, " --dir DIR",
                                                     args ? " NODE-ID" : "",
                                                     " (see syncblock local --help)"));
    }
    return absl::OkStatus();
  };
  absl::Status s;
  if (cmd == "up") {
    s = check({"nodes", "zones", "resync-rate", "io-timeout-ms", "lease-ms", "log-level", "no-csi",
               "require-csi", "csi-node-id", "timeout", "insecure", "ca-from"},
              0);
    if (s.ok()) s = LocalUp(*flags);
  } else if (cmd == "down") {
    s = check({"purge"}, 0);
    if (s.ok()) s = LocalDown(*flags);
  } else if (cmd == "kill") {
    s = check({}, 1);
    if (s.ok()) s = LocalKill(*flags, words[1]);
  } else if (cmd == "start") {
    s = check({"timeout"}, 1);
    if (s.ok()) s = LocalStart(*flags, words[1]);
  } else if (cmd == "status") {
    s = check({"output"}, 0);
    if (s.ok()) s = LocalStatus(*flags);
  } else {
    s = absl::InvalidArgumentError(
        absl::StrCat("unknown command '", cmd, "' (see syncblock local --help)"));
  }
  return s.ok() ? 0 : Fail(s);
}

}  // namespace syncblock::driver
