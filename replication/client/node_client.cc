#include "replication/client/node_client.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "replication/security/grpc_credentials.h"
#include "replication/util/crc32c.h"
#include "replication/util/grpc_status.h"
#include "replication/util/status_macros.h"
#include "replication/util/wipe.h"

namespace syncblock::repl {

namespace {

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address,
                                           std::shared_ptr<grpc::ChannelCredentials> credentials) {
  grpc::ChannelArguments args;
  // A node that was down comes back within seconds (local start, a pod
  // restart); gRPC's default reconnect backoff grows to two minutes, which
  // would make a waiting client miss it.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // After a refused connection the channel re-resolves its address, which
  // gRPC otherwise allows once every 30 s.
  args.SetInt(GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS, 200);
  if (!credentials) credentials = security::ProcessChannelCredentials();
  return grpc::CreateCustomChannel(address, credentials, args);
}

// Reads that change nothing are tried once more after a failure to connect:
// a channel's first connection can fail transiently (a node that has just
// started, a loaded machine), and one missing answer makes a healthy volume
// look degraded or its primary look absent. The second try waits for the
// channel to connect (wait_for_ready) for at most two seconds, which is also
// what a node that is really down costs.
template <typename Call>
grpc::Status ReadWithRetry(const Call& call) {
  grpc::Status s = call(/*patient=*/false);
  if (s.error_code() != grpc::StatusCode::UNAVAILABLE) return s;
  return call(/*patient=*/true);
}

void BePatient(grpc::ClientContext* ctx) {
  ctx->set_wait_for_ready(true);
  auto limit = std::chrono::system_clock::now() + std::chrono::seconds(2);
  if (ctx->deadline() > limit) ctx->set_deadline(limit);
}

}  // namespace

NodeClient::NodeClient(std::string address, std::chrono::milliseconds rpc_timeout,
                       std::chrono::milliseconds connect_timeout,
                       std::shared_ptr<grpc::ChannelCredentials> credentials)
    : address_(std::move(address)),
      rpc_timeout_(rpc_timeout),
      connect_timeout_(connect_timeout),
      channel_(MakeChannel(address_, std::move(credentials))),
      stub_(control::StorageControl::NewStub(channel_)) {}

absl::Status NodeClient::Dial() {
  if (channel_->GetState(/*try_to_connect=*/true) == GRPC_CHANNEL_READY) return absl::OkStatus();
  auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (now < redial_at_) return dial_error_;
  }
  if (channel_->WaitForConnected(std::chrono::system_clock::now() + connect_timeout_)) {
    return absl::OkStatus();
  }
  absl::Status error =
      absl::UnavailableError(absl::StrCat("node ", Name(), ": not reachable (no connection within ",
                                          connect_timeout_.count(), " ms", ConnectFailure(), ")"));
  std::lock_guard<std::mutex> lock(mu_);
  // Later calls in the same short while fail at once instead of waiting
  // again: a command asks a dead node several things.
  redial_at_ = std::chrono::steady_clock::now() + connect_timeout_;
  dial_error_ = error;
  return error;
}

std::string NodeClient::ConnectFailure() {
  if (channel_->GetState(false) != GRPC_CHANNEL_TRANSIENT_FAILURE) return "";
  // The channel knows why its last attempt failed; a call that does not wait
  // for it to connect returns that at once.
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
  control::NodeInfo info;
  grpc::Status s = stub_->GetNodeInfo(&ctx, control::GetNodeInfoRequest(), &info);
  if (s.ok() || s.error_code() != grpc::StatusCode::UNAVAILABLE) return "";
  return absl::StrCat(": ", security::DescribeConnectFailure(s.error_message()));
}

std::string NodeClient::Name() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (node_id_.empty()) return address_;
  return absl::StrCat(node_id_, " (", address_, ")");
}

void NodeClient::SetNodeId(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  node_id_ = id;
}

void NodeClient::Prepare(grpc::ClientContext* ctx, int scale) const {
  ctx->set_deadline(std::chrono::system_clock::now() + rpc_timeout_ * scale);
}

absl::Status NodeClient::Convert(const grpc::Status& s, const char* rpc) const {
  if (s.ok()) return absl::OkStatus();
  return FromGrpcStatus(s, absl::StrCat("node ", Name(), ": ", rpc));
}

absl::StatusOr<control::NodeInfo> NodeClient::GetNodeInfo() {
  RETURN_IF_ERROR(Dial());
  control::NodeInfo info;
  auto s = Convert(ReadWithRetry([&](bool patient) {
                     grpc::ClientContext ctx;
                     Prepare(&ctx);
                     if (patient) BePatient(&ctx);
                     return stub_->GetNodeInfo(&ctx, control::GetNodeInfoRequest(), &info);
                   }),
                   "GetNodeInfo");
  if (!s.ok()) return s;
  if (!info.node_id().empty()) SetNodeId(info.node_id());
  return info;
}

absl::StatusOr<control::ReplicaStatus> NodeClient::CreateReplica(
    const control::CreateReplicaRequest& req) {
  RETURN_IF_ERROR(Dial());
  grpc::ClientContext ctx;
  Prepare(&ctx);
  control::ReplicaStatus out;
  auto s = Convert(stub_->CreateReplica(&ctx, req, &out), "CreateReplica");
  if (!s.ok()) return s;
  return out;
}

absl::Status NodeClient::DeleteReplica(const std::string& volume_id) {
  RETURN_IF_ERROR(Dial());
  grpc::ClientContext ctx;
  Prepare(&ctx);
  control::DeleteReplicaRequest req;
  req.set_volume_id(volume_id);
  control::DeleteReplicaResponse out;
  return Convert(stub_->DeleteReplica(&ctx, req, &out), "DeleteReplica");
}

absl::StatusOr<control::ListReplicasResponse> NodeClient::ListReplicas() {
  RETURN_IF_ERROR(Dial());
  control::ListReplicasResponse out;
  auto s = Convert(ReadWithRetry([&](bool patient) {
                     grpc::ClientContext ctx;
                     Prepare(&ctx);
                     if (patient) BePatient(&ctx);
                     return stub_->ListReplicas(&ctx, control::ListReplicasRequest(), &out);
                   }),
                   "ListReplicas");
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<control::ReplicaStatus> NodeClient::GetReplica(const std::string& volume_id) {
  RETURN_IF_ERROR(Dial());
  control::GetReplicaRequest req;
  req.set_volume_id(volume_id);
  control::ReplicaStatus out;
  auto s = Convert(ReadWithRetry([&](bool patient) {
                     grpc::ClientContext ctx;
                     Prepare(&ctx);
                     if (patient) BePatient(&ctx);
                     return stub_->GetReplica(&ctx, req, &out);
                   }),
                   "GetReplica");
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<control::ReplicaStatus> NodeClient::SetMembers(
    const control::SetMembersRequest& req) {
  RETURN_IF_ERROR(Dial());
  grpc::ClientContext ctx;
  Prepare(&ctx);
  control::ReplicaStatus out;
  auto s = Convert(stub_->SetMembers(&ctx, req, &out), "SetMembers");
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<control::ReplicaStatus> NodeClient::SetAttributes(
    const control::SetAttributesRequest& req) {
  RETURN_IF_ERROR(Dial());
  grpc::ClientContext ctx;
  Prepare(&ctx);
  control::ReplicaStatus out;
  auto s = Convert(stub_->SetAttributes(&ctx, req, &out), "SetAttributes");
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<control::ReplicaStatus> NodeClient::Promote(const std::string& volume_id,
                                                           const std::string& reason,
                                                           bool accept_data_loss) {
  RETURN_IF_ERROR(Dial());
  grpc::ClientContext ctx;
  // Promotion waits for a majority to accept the epoch and then catches up.
  Prepare(&ctx, 6);
  control::PromoteRequest req;
  req.set_volume_id(volume_id);
  req.set_reason(reason);
  req.set_accept_data_loss(accept_data_loss);
  control::ReplicaStatus out;
  auto s = Convert(stub_->Promote(&ctx, req, &out), "Promote");
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<control::RegionChecksumsResponse> NodeClient::RegionChecksums(
    const std::string& volume_id, uint64_t region_size) {
  RETURN_IF_ERROR(Dial());
  grpc::ClientContext ctx;
  // Checksumming reads the whole replica.
  Prepare(&ctx, 12);
  control::RegionChecksumsRequest req;
  req.set_volume_id(volume_id);
  req.set_region_size(region_size);
  control::RegionChecksumsResponse out;
  auto s = Convert(stub_->RegionChecksums(&ctx, req, &out), "RegionChecksums");
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<control::ReplicaStatus> NodeClient::Resync(const control::ResyncRequest& req) {
  RETURN_IF_ERROR(Dial());
  grpc::ClientContext ctx;
  Prepare(&ctx, 3);
  control::ReplicaStatus out;
  auto s = Convert(stub_->Resync(&ctx, req, &out), "Resync");
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<control::ReplicaStatus> NodeClient::CreateCloneReplica(
    const control::CreateReplicaRequest& req) {
  RETURN_IF_ERROR(Dial());
  grpc::ClientContext ctx;
  // The copy takes time in proportion to the data the snapshot holds.
  Prepare(&ctx, 30);
  control::ReplicaStatus out;
  auto s = Convert(stub_->CreateReplica(&ctx, req, &out), "CreateReplica");
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<control::ReplicaStatus> NodeClient::ExpandVolume(const std::string& volume_id,
                                                                uint64_t size_bytes) {
  RETURN_IF_ERROR(Dial());
  grpc::ClientContext ctx;
  // Growth travels down the write stream and waits for a majority.
  Prepare(&ctx, 3);
  control::ExpandVolumeRequest req;
  req.set_volume_id(volume_id);
  req.set_size_bytes(size_bytes);
  control::ReplicaStatus out;
  auto s = Convert(stub_->ExpandVolume(&ctx, req, &out), "ExpandVolume");
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<control::SnapshotStatus> NodeClient::CreateSnapshot(const std::string& volume_id,
                                                                   const std::string& name) {
  RETURN_IF_ERROR(Dial());
  grpc::ClientContext ctx;
  // The primary answers once a majority cut it (up to its IO timeout).
  Prepare(&ctx, 4);
  control::CreateSnapshotRequest req;
  req.set_volume_id(volume_id);
  req.set_name(name);
  control::SnapshotStatus out;
  auto s = Convert(stub_->CreateSnapshot(&ctx, req, &out), "CreateSnapshot");
  if (!s.ok()) return s;
  return out;
}

absl::Status NodeClient::HoldWrites(const std::string& volume_id, const std::string& hold_id,
                                    std::chrono::milliseconds max_hold) {
  RETURN_IF_ERROR(Dial());
  grpc::ClientContext ctx;
  Prepare(&ctx);
  control::HoldWritesRequest req;
  req.set_volume_id(volume_id);
  req.set_hold_id(hold_id);
  req.set_max_hold_ms(static_cast<uint32_t>(max_hold.count()));
  control::HoldWritesResponse out;
  return Convert(stub_->HoldWrites(&ctx, req, &out), "HoldWrites");
}

absl::StatusOr<control::ReleaseWritesResponse> NodeClient::ReleaseWrites(
    const std::string& volume_id, const std::string& hold_id) {
  RETURN_IF_ERROR(Dial());
  grpc::ClientContext ctx;
  Prepare(&ctx);
  control::ReleaseWritesRequest req;
  req.set_volume_id(volume_id);
  req.set_hold_id(hold_id);
  control::ReleaseWritesResponse out;
  auto s = Convert(stub_->ReleaseWrites(&ctx, req, &out), "ReleaseWrites");
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<control::UnlockVolumeResponse> NodeClient::UnlockVolume(const std::string& volume_id,
                                                                       const std::string& key) {
  RETURN_IF_ERROR(Dial());
  grpc::ClientContext ctx;
  Prepare(&ctx, 3);  // PBKDF2 takes its time
  control::UnlockVolumeRequest req;
  req.set_volume_id(volume_id);
  req.set_key(key);
  control::UnlockVolumeResponse out;
  auto s = Convert(stub_->UnlockVolume(&ctx, req, &out), "UnlockVolume");
  WipeString(*req.mutable_key());
  if (!s.ok()) return s;
  return out;
}

absl::Status NodeClient::DeleteSnapshot(const std::string& volume_id, const std::string& name) {
  RETURN_IF_ERROR(Dial());
  grpc::ClientContext ctx;
  Prepare(&ctx, 3);
  control::DeleteSnapshotRequest req;
  req.set_volume_id(volume_id);
  req.set_name(name);
  control::DeleteSnapshotResponse out;
  return Convert(stub_->DeleteSnapshot(&ctx, req, &out), "DeleteSnapshot");
}

absl::StatusOr<control::ListSnapshotsResponse> NodeClient::ListSnapshots(
    const std::string& volume_id) {
  RETURN_IF_ERROR(Dial());
  grpc::ClientContext ctx;
  Prepare(&ctx);
  control::ListSnapshotsRequest req;
  req.set_volume_id(volume_id);
  control::ListSnapshotsResponse out;
  auto s = Convert(stub_->ListSnapshots(&ctx, req, &out), "ListSnapshots");
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<control::SnapshotDiffResponse> NodeClient::SnapshotDiff(
    const control::SnapshotDiffRequest& req) {
  RETURN_IF_ERROR(Dial());
  grpc::ClientContext ctx;
  // A diff against a full copy compares contents.
  Prepare(&ctx, 12);
  control::SnapshotDiffResponse out;
  auto s = Convert(stub_->SnapshotDiff(&ctx, req, &out), "SnapshotDiff");
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<control::RegionChecksumsResponse> NodeClient::SnapshotChecksums(
    const std::string& volume_id, const std::string& name, uint64_t region_size) {
  RETURN_IF_ERROR(Dial());
  grpc::ClientContext ctx;
  // Checksumming reads the whole snapshot.
  Prepare(&ctx, 12);
  control::SnapshotChecksumsRequest req;
  req.set_volume_id(volume_id);
  req.set_name(name);
  req.set_region_size(region_size);
  control::RegionChecksumsResponse out;
  auto s = Convert(stub_->SnapshotChecksums(&ctx, req, &out), "SnapshotChecksums");
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::string> NodeClient::ReadSnapshotRegion(const std::string& volume_id,
                                                           const std::string& name, uint64_t offset,
                                                           uint32_t length) {
  RETURN_IF_ERROR(Dial());
  grpc::ClientContext ctx;
  Prepare(&ctx, 3);
  control::ReadSnapshotRegionRequest req;
  req.set_volume_id(volume_id);
  req.set_name(name);
  req.set_offset(offset);
  req.set_length(length);
  control::ReadRegionResponse out;
  auto s = Convert(stub_->ReadSnapshotRegion(&ctx, req, &out), "ReadSnapshotRegion");
  if (!s.ok()) return s;
  if (out.data().size() != length || Crc32c(out.data().data(), out.data().size()) != out.crc32c()) {
    return absl::DataLossError(absl::StrCat("ReadSnapshotRegion on ", Name(), ": ", volume_id, "@",
                                            name, " at ", offset, ": got ", out.data().size(),
                                            " bytes whose checksum does not match the node's"));
  }
  return std::move(*out.mutable_data());
}

absl::StatusOr<control::RemoteRecord> NodeClient::PutRemote(const control::RemoteRecord& record) {
  RETURN_IF_ERROR(Dial());
  grpc::ClientContext ctx;
  Prepare(&ctx);
  control::PutRemoteRequest req;
  *req.mutable_remote() = record;
  control::RemoteRecord out;
  auto s = Convert(stub_->PutRemote(&ctx, req, &out), "PutRemote");
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<control::ListRemotesResponse> NodeClient::ListRemotes() {
  RETURN_IF_ERROR(Dial());
  grpc::ClientContext ctx;
  Prepare(&ctx);
  control::ListRemotesResponse out;
  auto s = Convert(stub_->ListRemotes(&ctx, control::ListRemotesRequest(), &out), "ListRemotes");
  if (!s.ok()) return s;
  return out;
}

}  // namespace syncblock::repl
