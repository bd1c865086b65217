#include "replication/security/tls_files.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace syncblock::security {

absl::Status TlsFiles::Validate() const {
  if (insecure) return absl::OkStatus();
  std::vector<std::string> missing;
  if (ca.empty()) missing.push_back("--tls-ca");
  if (cert.empty()) missing.push_back("--tls-cert");
  if (key.empty()) missing.push_back("--tls-key");
  if (missing.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("TLS is on by default and needs ", absl::StrJoin(missing, ", "),
                   " (or --insecure to run in plaintext, which nobody else can then trust)"));
}

}  // namespace syncblock::security
