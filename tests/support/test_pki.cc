#include "tests/support/test_pki.h"

#include <gtest/gtest.h>

#include "replication/security/certificates.h"

namespace syncblock::testing {

TestPki::TestPki(std::string dir, const std::string& ca_name) : dir_(std::move(dir)) {
  absl::Status s = security::CreateCertificateAuthority({ca_cert(), ca_key()}, ca_name);
  EXPECT_TRUE(s.ok()) << s;
}

security::TlsFiles TestPki::Issue(const std::string& name, const std::string& role) const {
  security::TlsFiles files{ca_cert(), dir_ + "/" + name + ".crt", dir_ + "/" + name + ".key"};
  security::CertificateRequest request{name, role, {"localhost"}, {"127.0.0.1"}};
  absl::Status s =
      security::IssueCertificate({ca_cert(), ca_key()}, request, {files.cert, files.key});
  EXPECT_TRUE(s.ok()) << s;
  return files;
}

}  // namespace syncblock::testing
