#include "driver/ctl_csi_client.h"

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "driver/ctl_dispatch.h"
#include "driver/local_cluster_file.h"
#include "replication/security/grpc_credentials.h"
#include "replication/util/grpc_status.h"

namespace syncblock::driver {

namespace {

constexpr int64_t kDefaultCsiTimeoutMs = 120000;

}  // namespace

CsiClient::CsiClient(std::string endpoint, std::chrono::milliseconds timeout)
    : endpoint_(std::move(endpoint)), timeout_(timeout) {
  // The CSI socket is local and plaintext, as the CSI spec has it; a TCP
  // endpoint is dialled with TLS (the process's files: ctl's).
  channel_ = grpc::CreateChannel(endpoint_, absl::StartsWith(endpoint_, "unix:")
                                                ? grpc::InsecureChannelCredentials()
                                                : security::ProcessChannelCredentials());
  identity_ = ::csi::v1::Identity::NewStub(channel_);
  controller_ = ::csi::v1::Controller::NewStub(channel_);
  node_ = ::csi::v1::Node::NewStub(channel_);
  group_controller_ = ::csi::v1::GroupController::NewStub(channel_);
}

absl::StatusOr<std::unique_ptr<CsiClient>> CsiClient::Connect(const Flags& flags) {
  if (flags.Has("endpoint") && flags.Has("cluster")) {
    return UsageError("give --endpoint or --cluster, not both");
  }
  std::string endpoint;
  if (flags.Has("endpoint")) {
    endpoint = flags.Get("endpoint");
    if (endpoint.empty()) return UsageError("--endpoint is empty");
  } else if (flags.Has("cluster")) {
    auto cluster = LoadCluster(flags.Get("cluster"));
    if (!cluster.ok()) {
      return absl::Status(cluster.status().code(),
                          absl::StrCat(absl::StatusCodeToString(cluster.status().code()), ": ",
                                       cluster.status().message()));
    }
    if (cluster->csi.state != "running" || cluster->csi.endpoint.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "FAILED_PRECONDITION: the local cluster in ", flags.Get("cluster"), " runs no CSI plugin",
          cluster->csi.error.empty() ? "" : ": ", cluster->csi.error));
    }
    endpoint = cluster->csi.endpoint;
  } else {
    return UsageError("give the CSI plugin's --endpoint unix:///path.sock or --cluster DIR");
  }
  // gRPC wants "unix:PATH" or "unix:///PATH"; a bare path means a socket.
  if (absl::StartsWith(endpoint, "/")) endpoint = absl::StrCat("unix://", endpoint);
  auto timeout = flags.GetInt("timeout-ms", kDefaultCsiTimeoutMs);
  if (!timeout.ok()) return UsageError(timeout.status().message());
  if (*timeout <= 0) return UsageError("--timeout-ms must be positive");
  return std::unique_ptr<CsiClient>(
      new CsiClient(std::move(endpoint), std::chrono::milliseconds(*timeout)));
}

absl::Status CsiClient::FromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  // ctl's errors are one line; a plugin's message may quote a tool's output.
  const std::string message = status.error_message();  // a copy: the views below point into it
  std::vector<absl::string_view> lines;
  for (absl::string_view line : absl::StrSplit(message, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (!line.empty()) lines.push_back(line);
  }
  return FromGrpcStatus(grpc::Status(status.error_code(), absl::StrJoin(lines, "; ")),
                        GrpcCodeName(status.error_code()));
}

}  // namespace syncblock::driver
