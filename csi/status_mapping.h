// What storage-node errors mean to a CSI caller. They become gRPC statuses
// through ToGrpcStatus (replication/util/grpc_status.h, the one conversion),
// but first FromStorage translates them, because some codes mean something
// else to a CSI caller (FAILED_PRECONDITION from a storage node is "not the
// primary right now", while to the CO it means "published elsewhere").
//
// Thread-safe: pure functions.
#pragma once

#include "absl/status/status.h"

namespace syncblock::csi {

// A storage-cluster error as a CSI error: codes the CO would read as a verdict
// on its request (FAILED_PRECONDITION, ABORTED, OUT_OF_RANGE, ALREADY_EXISTS
// outside CreateVolume) become UNAVAILABLE, which it retries; the message keeps
// the storage node's words.
absl::Status FromStorage(const absl::Status& status);

}  // namespace syncblock::csi
