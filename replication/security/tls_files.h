// Where a process finds its TLS identity: the CA that signs every syncblock
// certificate, its own certificate and private key (PEM files). `insecure`
// is the explicit opt-out to plaintext; without it, a process that lacks
// any of the three files refuses to start.
#pragma once

#include <string>

#include "absl/status/status.h"

namespace syncblock::security {

struct TlsFiles {
  std::string ca;
  std::string cert;
  std::string key;
  bool insecure = false;

  bool enabled() const { return !insecure; }
  // OK when insecure, or when all three paths are given (it does not open
  // them: loading does, with the file's name in the error).
  absl::Status Validate() const;
};

}  // namespace syncblock::security
