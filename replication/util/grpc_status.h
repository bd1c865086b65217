// The one conversion between absl::Status and grpc::Status, both ways, for
// every gRPC boundary of syncblock (the storage control API, the CSI services,
// `syncblock ctl`). Abseil and gRPC share the canonical code numbers 0..16, so
// codes pass through unchanged; anything else becomes UNKNOWN.
//
// Callers that must translate codes for their audience (csi/status_mapping.h:
// a storage node's FAILED_PRECONDITION is not the CO's) do so on the
// absl::Status before or after these.
//
// Thread-safe: pure functions.
#pragma once

#include <grpcpp/support/status.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace syncblock {

// The message is kept as it is.
grpc::Status ToGrpcStatus(const absl::Status& s);

// `what` names the call and the peer, e.g. "AcceptEpoch on node-2
// (127.0.0.1:7400)"; the message becomes "WHAT: MESSAGE" (just MESSAGE when
// `what` is empty).
absl::Status FromGrpcStatus(const grpc::Status& s, absl::string_view what = {});

// "NOT_FOUND" for grpc::StatusCode::NOT_FOUND; "CODE_42" outside the
// canonical codes.
std::string GrpcCodeName(grpc::StatusCode code);

}  // namespace syncblock
