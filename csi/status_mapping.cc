#include "csi/status_mapping.h"

#include "absl/strings/str_cat.h"

namespace syncblock::csi {

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
