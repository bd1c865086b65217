// A throw-away certificate authority for tests: a CA in a directory and
// certificates issued from it on demand, as `ctl local up` makes them.
// A second TestPki is "another CA": its certificates are the forged ones.
#pragma once

#include <string>

#include "replication/security/tls_files.h"

namespace syncblock::testing {

class TestPki {
 public:
  // Makes the CA under `dir` (which must exist); aborts the test on failure.
  explicit TestPki(std::string dir, const std::string& ca_name = "test CA");

  // A certificate for `name` in `role` (SAN 127.0.0.1 and localhost), as the
  // TlsFiles a process is started with. Files: <dir>/<name>.crt/.key.
  security::TlsFiles Issue(const std::string& name, const std::string& role) const;

  std::string ca_cert() const { return dir_ + "/ca.crt"; }
  std::string ca_key() const { return dir_ + "/ca.key"; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

}  // namespace syncblock::testing
