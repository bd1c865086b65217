// Who may be at the other end of a replication connection, and the stream
// the connection runs over (DESIGN.md rule 8; replication/doc/replication_tls.md).
//
// With a TLS context every replication connection is TLS 1.3 with both
// certificates verified against the cluster's CA; without one (--insecure)
// it is the bare socket. Then:
//
//  * the dialing side (a primary's PeerLink) checks it reached the node it
//    meant: the server's certificate must name the member's node id, role
//    storage;
//  * the accepting side (ReplicationServer) takes only storage nodes, and,
//    once the hello names the volume, only the volume's primary: the
//    certificate must name the node the hello speaks for, and that node must
//    be a member of the volume (AdmitPrimary).
//
// Plain functions; thread-compatible.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "replication/security/byte_stream.h"
#include "replication/security/tls_context.h"
#include "replication/store/manifest.h"
#include "replication/wire/hello.h"

namespace syncblock::repl {

// The stream of a connection this node dialed to storage node `node_id`: TLS
// when `tls` is set (UNAUTHENTICATED when the server's certificate is not
// from our CA, or names another node or role; DEADLINE_EXCEEDED when the
// handshake takes longer than `timeout`), else plain.
absl::StatusOr<std::unique_ptr<security::ByteStream>> DialedStream(
    int fd, security::TlsContext* tls, const std::string& node_id,
    std::chrono::milliseconds timeout);

// The stream of a connection this node accepted on its replication port: the
// TLS handshake within `timeout`, and a client certificate of role storage
// (PERMISSION_DENIED naming who it is otherwise). Plain without `tls`.
absl::StatusOr<std::unique_ptr<security::ByteStream>> AcceptedStream(
    int fd, security::TlsContext* tls, std::chrono::milliseconds timeout);

// Whether `peer` (null on a plain connection: anyone) may open a session as
// the primary `hello` names: the certificate must name that node, and the
// node must be a member of the volume: in `local` (this node's manifest, null
// when it has no replica yet), or, for a hello of a newer epoch, which the
// epoch rules adopt with its member list, in the hello's members.
// PERMISSION_DENIED saying why.
absl::Status AdmitPrimary(const security::PeerIdentity* peer, const HelloRequest& hello,
                          const Manifest* local);

}  // namespace syncblock::repl
