// Who may call what on a storage node's control API (StorageControl). The
// caller is the identity in its verified client certificate (subject CN and
// OU, security/certificates.h), never anything it says in a request:
//
//   storage, controller, admin   every RPC (storage nodes call each other for
//                                election, promotion, membership and copies)
//   node (a CSI node plugin)     GetNodeInfo and GetReplica only: finding a
//                                volume's primary is all an initiator does
//
// Anything else, or a call without a certificate on a TLS server, is refused
// with PERMISSION_DENIED (UNAUTHENTICATED without a certificate), naming the
// caller and the RPC. A plaintext server (--insecure) checks nothing.
//
// Thread-safe (immutable).
#pragma once

#include <grpcpp/server_context.h>

#include "absl/strings/string_view.h"

namespace syncblock::repl {

class ControlAuthorizer {
 public:
  explicit ControlAuthorizer(bool check_callers) : check_callers_(check_callers) {}

  // OK when the caller of `ctx` may call `rpc` (the method's name, e.g.
  // "DeleteReplica").
  grpc::Status Check(const grpc::ServerContext& ctx, absl::string_view rpc) const;

  // The same decision for a known role, for tests and documentation.
  static bool RoleMayCall(absl::string_view role, absl::string_view rpc);

 private:
  bool check_callers_;
};

}  // namespace syncblock::repl
