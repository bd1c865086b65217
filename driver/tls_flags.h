// The TLS flags every daemon and ctl take:
//
//   --tls-ca FILE    the cluster CA (PEM; may hold several during a CA change)
//   --tls-cert FILE  this process's certificate (PEM)
//   --tls-key FILE   its private key (PEM)
//   --insecure       plaintext and no authentication (a warning at every start)
//
// TLS is the default: without the three files and without --insecure a
// process refuses to start.
#pragma once

#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "driver/flags.h"
#include "replication/security/tls_files.h"

namespace syncblock::driver {

inline constexpr char kTlsFlagsUsage[] =
    "  --tls-ca FILE              cluster CA certificate(s), PEM\n"
    "  --tls-cert FILE            this process's certificate, PEM (re-read when it changes)\n"
    "  --tls-key FILE             its private key, PEM (re-read when it changes)\n"
    "  --insecure                 plaintext, no authentication (never in production)\n";

// Flag names for Flags::CheckKnown, and the boolean one for Flags::Parse.
const std::set<std::string>& TlsFlagNames();
inline constexpr char kInsecureFlag[] = "insecure";

// The files named by the flags, checked (they load, the key fits, the
// certificate chains to the CA), and installed as the process's files for
// the control API's clients (security::SetProcessTlsFiles). Logs the
// identity, or the plaintext warning. `process` names the command in
// messages ("storage node node-1").
absl::StatusOr<security::TlsFiles> LoadTlsFlags(const Flags& flags, const std::string& process);

// On SIGHUP: checks the files again and logs what the next connections will
// use (the files are watched and re-read within a second anyway; this says
// whether the new ones are usable).
void ReportTlsReload(const security::TlsFiles& files, const std::string& process);

// The files named by the flags, unchecked (for ctl, whose flags override
// the cluster file's paths one by one).
security::TlsFiles TlsFilesFromFlags(const Flags& flags, security::TlsFiles defaults = {});

}  // namespace syncblock::driver
