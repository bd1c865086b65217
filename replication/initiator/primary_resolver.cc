#include "replication/initiator/primary_resolver.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "replication/initiator/nbd_client.h"
#include "replication/initiator/nbd_tls.h"
#include "replication/proto/control.grpc.pb.h"
#include "replication/security/grpc_credentials.h"

namespace syncblock::repl::initiator {
namespace {

namespace ctl = ::syncblock::control::v1;

// OK when `uri` serves `volume_id` right now.
absl::Status Probe(const std::string& uri) {
  auto parsed = ParseNbdUri(uri);
  if (!parsed.ok()) return parsed.status();
  auto conn = NbdConnect(*parsed, std::chrono::seconds(5));
  if (!conn.ok()) return conn.status();
  conn->Disconnect();
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> GrpcPrimaryResolver::Resolve(
    const std::string& volume_id, const std::string& hint_uri,
    const std::vector<std::string>& hint_control_addresses) {
  std::vector<std::string> errors;
  if (!hint_uri.empty()) {
    absl::Status st = Probe(hint_uri);
    if (st.ok()) return hint_uri;
    errors.push_back(std::string(st.message()));
  }
  std::vector<std::string> addresses = hint_control_addresses;
  if (control_addresses_) {
    for (auto& a : control_addresses_()) addresses.push_back(std::move(a));
  }
  std::set<std::string> seen;
  int answered = 0, not_found = 0;
  for (const auto& address : addresses) {
    if (address.empty() || !seen.insert(address).second) continue;
    auto channel = grpc::CreateChannel(address, security::ProcessChannelCredentials());
    auto stub = ctl::StorageControl::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    ctl::GetReplicaRequest req;
    req.set_volume_id(volume_id);
    ctl::ReplicaStatus reply;
    grpc::Status st = stub->GetReplica(&ctx, req, &reply);
    if (!st.ok()) {
      if (st.error_code() == grpc::StatusCode::NOT_FOUND) {
        ++answered;
        ++not_found;
      }
      errors.push_back(absl::StrCat(address, ": ", st.error_message()));
      continue;
    }
    ++answered;
    std::vector<std::string> candidates;
    if (!reply.nbd_uri().empty()) candidates.push_back(reply.nbd_uri());
    // A secondary names the primary; its NBD address is in the member list.
    // The scheme says what the connection will be: this process speaks TLS
    // exactly when it has a certificate (NbdClientTlsEnabled).
    const char* scheme = NbdClientTlsEnabled() ? "nbds://" : "nbd://";
    for (const auto& m : reply.members()) {
      if (m.node_id() == reply.primary_node_id() && !m.nbd_address().empty()) {
        candidates.push_back(absl::StrCat(scheme, m.nbd_address(), "/", volume_id));
      }
    }
    for (const auto& uri : candidates) {
      absl::Status probe = Probe(uri);
      if (probe.ok()) return uri;
      errors.push_back(std::string(probe.message()));
    }
  }
  if (answered > 0 && answered == not_found) {
    return absl::NotFoundError(
        absl::StrCat("volume ", volume_id, " is unknown to the storage nodes"));
  }
  return absl::UnavailableError(absl::StrCat(
      "no storage node serves volume ", volume_id,
      " now: ", errors.empty() ? "no storage nodes known" : absl::StrJoin(errors, "; ")));
}

}  // namespace syncblock::repl::initiator
