#include "driver/tls_flags.h"

#include "absl/strings/str_cat.h"
#include "replication/initiator/nbd_tls.h"
#include "replication/security/grpc_credentials.h"
#include "replication/util/logging.h"

namespace syncblock::driver {

const std::set<std::string>& TlsFlagNames() {
  static const std::set<std::string> names = {"tls-ca", "tls-cert", "tls-key", kInsecureFlag};
  return names;
}

security::TlsFiles TlsFilesFromFlags(const Flags& flags, security::TlsFiles defaults) {
  security::TlsFiles files = std::move(defaults);
  if (flags.Has("tls-ca")) files.ca = flags.Get("tls-ca");
  if (flags.Has("tls-cert")) files.cert = flags.Get("tls-cert");
  if (flags.Has("tls-key")) files.key = flags.Get("tls-key");
  if (flags.GetBool(kInsecureFlag)) files.insecure = true;
  return files;
}

absl::StatusOr<security::TlsFiles> LoadTlsFlags(const Flags& flags, const std::string& process) {
  security::TlsFiles files = TlsFilesFromFlags(flags);
  if (files.insecure && (!files.ca.empty() || !files.cert.empty() || !files.key.empty())) {
    return absl::InvalidArgumentError("--insecure and --tls-* contradict each other: give one");
  }
  auto identity = security::CheckTlsFiles(files);
  if (!identity.ok()) return identity.status();
  if (files.insecure) {
    spdlog::warn(
        "{}: --insecure: TLS is off: its ports speak plaintext and authenticate nobody, so "
        "anyone who reaches them can read and change every volume. Never run a real cluster "
        "like this.",
        process);
  } else {
    spdlog::info("{}: TLS identity {} (CA {})", process, identity->ToString(), files.ca);
  }
  security::SetProcessTlsFiles(files);
  // Our NBD initiators (fuse-export, the node plugin) present it too.
  repl::initiator::SetNbdClientTls(files);
  return files;
}

void ReportTlsReload(const security::TlsFiles& files, const std::string& process) {
  if (files.insecure) {
    spdlog::warn("{}: SIGHUP: --insecure, no certificates to reload", process);
    return;
  }
  auto identity = security::CheckTlsFiles(files);
  if (identity.ok()) {
    spdlog::info("{}: SIGHUP: certificates checked, new connections use {} within {} s", process,
                 identity->ToString(), security::kCertificateReloadSeconds);
  } else {
    spdlog::error("{}: SIGHUP: the TLS files are not usable: {}", process,
                  identity.status().message());
  }
}

}  // namespace syncblock::driver
