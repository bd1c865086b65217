// gRPC credentials of the control API (storage nodes' StorageControl service
// and its clients: the CSI controller and node plugin, ctl, other storage
// nodes), made from a process's TlsFiles in this one place.
//
// With TLS (the default) both sides authenticate: the server requires a client
// certificate that chains to the cluster CA, and the client requires a server
// certificate that chains to the same CA and names a storage node (subject OU
// "storage"). Host names are not checked: storage nodes are reached by
// addresses that change (pod IPs), so a certificate names who holds it, not
// where it runs; doc/security.md explains the choice.
//
// The certificate, key and CA files are watched (re-read every
// kCertificateReloadSeconds): replacing them rotates the identity of new
// connections without a restart. Replace each file atomically (write aside,
// rename); the key before the certificate. With `insecure`, everything is
// plaintext and unauthenticated.
//
// Thread-safe.
#pragma once

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_context.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "replication/security/certificates.h"
#include "replication/security/tls_files.h"

namespace syncblock::security {

inline constexpr unsigned kCertificateReloadSeconds = 1;

// Reads the three files and checks that the key belongs to the certificate
// and that the certificate chains to the CA and is valid now; returns the
// identity the certificate gives. The error names the file that is wrong.
// With `insecure` it opens nothing and returns the identity
// "plaintext" with no role.
absl::StatusOr<PeerIdentity> CheckTlsFiles(const TlsFiles& files);

// Server credentials: client certificate required and verified.
std::shared_ptr<grpc::ServerCredentials> GrpcServerCredentials(const TlsFiles& files);
// Channel credentials to a storage node's control port, with our certificate.
std::shared_ptr<grpc::ChannelCredentials> GrpcChannelCredentials(const TlsFiles& files);

// The process's own files, for the clients deep in the engine (election,
// promotion, the initiator's primary lookup) that have no one to be handed
// credentials by. Set once at start, before any channel is made.
void SetProcessTlsFiles(const TlsFiles& files);
// The files set by SetProcessTlsFiles, if any (for handing to a child).
std::optional<TlsFiles> ProcessTlsFiles();
// GrpcChannelCredentials(process files). Before SetProcessTlsFiles, TLS
// credentials that trust no CA: every handshake fails (nothing is trusted by
// default), and an error says why.
std::shared_ptr<grpc::ChannelCredentials> ProcessChannelCredentials();

// gRPC's reason for a failed connection, said plainly: a TLS handshake
// failure is named as one, with what to check.
std::string DescribeConnectFailure(const std::string& grpc_message);

// The verified identity of the peer of a call on a TLS server.
// UNAUTHENTICATED when the call came without a certificate (a plaintext
// server).
absl::StatusOr<PeerIdentity> CallerIdentity(const grpc::ServerContext& ctx);

}  // namespace syncblock::security
