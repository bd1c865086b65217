// Status conversion at the gRPC boundary of the storage control API. Abseil and
// gRPC share their canonical code numbers, so codes pass through unchanged.
#pragma once

#include <grpcpp/support/status.h>

#include <string>

#include "absl/status/status.h"

namespace syncblock {

inline grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

// `what` names the call and the peer, e.g. "AcceptEpoch on node-2 (127.0.0.1:7400)".
inline absl::Status FromGrpcStatus(const grpc::Status& s, const std::string& what) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      what + ": " + s.error_message());
}

}  // namespace syncblock
