#include "replication/nbd/nbd_access.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "replication/types/remote_sync_policy.h"

namespace syncblock::repl::nbd {

Access PublishedAccess(const std::map<std::string, std::string>& attributes,
                       const std::string& node_id) {
  if (node_id.empty()) return Access::kNone;
  auto it = attributes.find(absl::StrCat(kPublicationAttrPrefix, node_id));
  if (it == attributes.end()) return Access::kNone;
  absl::string_view value = it->second;
  absl::string_view rw = value.substr(0, value.find(','));
  if (rw == "rw") return Access::kReadWrite;
  if (rw == "ro") return Access::kReadOnly;
  return Access::kNone;
}

AccessDecision DecideAccess(const security::PeerIdentity* peer, const std::string& volume,
                            const std::map<std::string, std::string>& attributes) {
  if (peer == nullptr) return {Access::kReadWrite, ""};
  if (peer->role == security::kRoleAdmin) return {Access::kReadWrite, ""};
  if (peer->role == security::kRoleNode) {
    Access a = PublishedAccess(attributes, peer->name);
    if (a != Access::kNone) return {a, ""};
    return {Access::kNone,
            absl::StrCat("volume ", volume, " is not published to node ", peer->name)};
  }
  if (peer->role == security::kRoleController && attributes.count(kAttrRemoteSourceId) != 0) {
    // The remote sync the controller runs writes into its target
    // (replication/doc/remote_sync.md); no other volume opens to it.
    return {Access::kReadWrite, ""};
  }
  if (peer->role == security::kRoleStorage || peer->role == security::kRoleController) {
    return {Access::kNone,
            absl::StrCat("a ", peer->role, " certificate does not open volumes over NBD (", volume,
                         "); use a node or admin certificate")};
  }
  return {Access::kNone, absl::StrCat("certificate role '", peer->role,
                                      "' may not open volumes over NBD (", volume, ")")};
}

AccessDecision PublicationAuthorizer::Authorize(const security::PeerIdentity* peer,
                                                const std::string& export_name) {
  if (peer == nullptr) return {Access::kReadWrite, ""};
  std::optional<std::map<std::string, std::string>> attributes = attributes_of_(export_name);
  if (!attributes) {
    return {Access::kNone, absl::StrCat("volume ", export_name, " is not served here")};
  }
  return DecideAccess(peer, export_name, *attributes);
}

void ReadOnlyDevice::Submit(std::shared_ptr<IoRequest> request) {
  if (request->op == IoOp::kRead || request->op == IoOp::kFlush) {
    inner_->Submit(std::move(request));
    return;
  }
  request->status = absl::PermissionDeniedError("the volume is published read-only to this client");
  IoRequest& r = *request;
  r.done(r);
}

}  // namespace syncblock::repl::nbd
