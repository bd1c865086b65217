// The command-line flags that hand TlsFiles to a child process (`--tls-ca F
// --tls-cert F --tls-key F`, or `--insecure`): what `local up` gives every
// daemon and the CSI node plugin gives each `fuse-export`.
#pragma once

#include <string>
#include <vector>

#include "replication/security/tls_files.h"

namespace syncblock::security {

inline std::vector<std::string> TlsArgs(const TlsFiles& files) {
  if (files.insecure) return {"--insecure"};
  return {"--tls-ca", files.ca, "--tls-cert", files.cert, "--tls-key", files.key};
}

}  // namespace syncblock::security
