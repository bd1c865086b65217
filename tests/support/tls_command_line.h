// TLS files on a test's command lines: `syncblock storage ... ` argv and
// `syncblock ctl ...` strings.
#pragma once

#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "replication/security/tls_args.h"

namespace syncblock::testing {

// " --tls-ca A --tls-cert B --tls-key C" (or " --insecure"), to append to a
// command string.
inline std::string TlsFlagString(const security::TlsFiles& files) {
  return " " + absl::StrJoin(security::TlsArgs(files), " ");
}

// `argv` with the flags appended.
inline std::vector<std::string> WithTls(std::vector<std::string> argv,
                                        const security::TlsFiles& files) {
  for (auto& a : security::TlsArgs(files)) argv.push_back(std::move(a));
  return argv;
}

}  // namespace syncblock::testing
