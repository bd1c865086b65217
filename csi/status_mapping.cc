#include "csi/status_mapping.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace syncblock::csi {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // absl and gRPC share the canonical codes 0..16, and absl::Status turns any
  // other code into UNKNOWN when it is built, so the number carries over.
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

absl::Status FromStorage(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kOutOfRange:
      return absl::UnavailableError(absl::StrCat("storage cluster: ", status.message()));
    default:
      return status;
  }
}

}  // namespace syncblock::csi
