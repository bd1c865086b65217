// The certificates of a syncblock cluster: one CA signs every process's
// certificate, and a certificate names who holds it. Subject CN is the
// identity (a storage node's id, a CSI node plugin's node id, "controller",
// "admin") and subject OU its role; access checks read both from the peer's
// verified certificate, never from anything the peer says in a request.
//
// Keys are ECDSA P-256 (what OpenSSL, gRPC, GnuTLS-based clients such as
// qemu and libnbd all take). Private keys are written with mode 0600.
#pragma once

#include <openssl/x509.h>

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace syncblock::security {

// Roles a certificate can carry in its subject OU.
inline constexpr char kRoleStorage[] = "storage";        // a storage node
inline constexpr char kRoleController[] = "controller";  // the CSI controller
inline constexpr char kRoleNode[] = "node";              // a CSI node plugin
inline constexpr char kRoleAdmin[] = "admin";            // a person's ctl

struct PeerIdentity {
  std::string name;              // subject CN
  std::string role;              // subject OU
  std::string ToString() const;  // "node-1 (storage)"
};

struct PemFiles {
  std::string cert;
  std::string key;
};

struct CertificateRequest {
  std::string common_name;
  std::string role;
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
  std::chrono::hours validity{24 * 365};
  // A signing CA under `ca` (its OU limits it to that role), not a leaf.
  bool is_ca = false;
};

// A self-signed CA certificate and its key. Overwrites existing files.
absl::Status CreateCertificateAuthority(const PemFiles& out, const std::string& name,
                                        std::chrono::hours validity = std::chrono::hours(24 *
                                                                                         3650));

// A certificate for `request`, signed by the CA in `ca`, usable as both TLS
// server and client (serverAuth + clientAuth).
absl::Status IssueCertificate(const PemFiles& ca, const CertificateRequest& request,
                              const PemFiles& out);

// The identity in a certificate. The caller must have verified the chain
// (TLS did); this only reads the subject. INVALID_ARGUMENT without a CN.
absl::StatusOr<PeerIdentity> IdentityOf(X509* cert);
absl::StatusOr<PeerIdentity> IdentityFromPem(const std::string& pem);
// The identity of a chain's leaf (leaf first, then its issuers). A CA whose
// subject carries an OU signs only certificates of that role: the chart's
// per-role signing CAs sit on every node, and must not be able to mint a
// controller's or a storage node's identity. UNAUTHENTICATED when one did.
absl::StatusOr<PeerIdentity> IdentityOfChain(const std::vector<X509*>& chain);
// The same from PEM text holding the chain (gRPC's x509_pem_cert_chain).
absl::StatusOr<PeerIdentity> IdentityFromPemChain(const std::string& pem);

// The OpenSSL error queue as text (and cleared), for error messages.
std::string OpenSslErrors();

}  // namespace syncblock::security
