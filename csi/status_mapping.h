// The one place where internal absl::Status values become gRPC statuses for
// CSI callers. Canonical codes map one to one; errors that come back from the
// storage nodes are first translated by FromStorage, because some codes mean
// something else to a CSI caller (FAILED_PRECONDITION from a storage node is
// "not the primary right now", while to the CO it means "published elsewhere").
//
// Thread-safe: pure functions.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace syncblock::csi {

grpc::Status ToGrpcStatus(const absl::Status& status);

// A storage-cluster error as a CSI error: codes the CO would read as a verdict
// on its request (FAILED_PRECONDITION, ABORTED, OUT_OF_RANGE, ALREADY_EXISTS
// outside CreateVolume) become UNAVAILABLE, which it retries; the message keeps
// the storage node's words.
absl::Status FromStorage(const absl::Status& status);

}  // namespace syncblock::csi
