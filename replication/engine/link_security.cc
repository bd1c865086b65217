#include "replication/engine/link_security.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "replication/security/certificates.h"
#include "replication/security/tls_stream.h"
#include "replication/types/removed_members.h"

namespace syncblock::repl {
namespace {

bool NamesDataMember(const std::vector<MemberInfo>& members, const std::string& node_id) {
  return std::any_of(members.begin(), members.end(),
                     [&](const MemberInfo& m) { return m.node_id == node_id && !m.witness; });
}

std::string MemberList(const std::vector<MemberInfo>& members) {
  return absl::StrJoin(members, ", ",
                       [](std::string* out, const MemberInfo& m) { out->append(m.node_id); });
}

}  // namespace

absl::StatusOr<std::unique_ptr<security::ByteStream>> DialedStream(
    int fd, security::TlsContext* tls, const std::string& node_id,
    std::chrono::milliseconds timeout) {
  if (tls == nullptr) return std::make_unique<security::PlainStream>(fd);
  security::PeerIdentity expected{node_id, security::kRoleStorage};
  absl::StatusOr<std::unique_ptr<security::TlsStream>> s =
      security::TlsStream::Connect(fd, *tls, timeout, expected);
  if (!s.ok()) return s.status();
  return std::unique_ptr<security::ByteStream>(*std::move(s));
}

absl::StatusOr<std::unique_ptr<security::ByteStream>> AcceptedStream(
    int fd, security::TlsContext* tls, std::chrono::milliseconds timeout) {
  if (tls == nullptr) return std::make_unique<security::PlainStream>(fd);
  absl::StatusOr<std::unique_ptr<security::TlsStream>> s =
      security::TlsStream::Accept(fd, *tls, timeout);
  if (!s.ok()) return s.status();
  const security::PeerIdentity& peer = *(*s)->peer();
  if (peer.role != security::kRoleStorage) {
    return absl::PermissionDeniedError(absl::StrCat(
        "the peer is ", peer.ToString(), ": only storage nodes may use the replication port"));
  }
  return std::unique_ptr<security::ByteStream>(*std::move(s));
}

absl::Status AdmitPrimary(const security::PeerIdentity* peer, const HelloRequest& hello,
                          const Manifest* local) {
  if (peer == nullptr) return absl::OkStatus();
  const std::string& primary = hello.primary_node_id;
  if (peer->name != primary) {
    return absl::PermissionDeniedError(
        absl::StrCat("the certificate of ", peer->ToString(), " does not name ", primary,
                     ", the primary its hello for volume ", hello.volume_id, " speaks for"));
  }
  if (local != nullptr) {
    if (local->primary_node_id == primary || local->FindMember(primary) != nullptr) {
      return absl::OkStatus();
    }
    // A newer epoch, or a newer lineage whatever its epoch (removed_members.h).
    if ((hello.epoch > local->epoch ||
         RemovedVersion(hello.attributes) > RemovedVersion(local->attributes)) &&
        NamesDataMember(hello.members, primary)) {
      return absl::OkStatus();
    }
    return absl::PermissionDeniedError(
        absl::StrCat("node ", primary, " is not a member of volume ", hello.volume_id,
                     " (members here: ", MemberList(local->members), ")"));
  }
  if (NamesDataMember(hello.members, primary)) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat("node ", primary, " is not a member of volume ",
                                                  hello.volume_id, " in its own hello"));
}

}  // namespace syncblock::repl
