#include "replication/util/grpc_status.h"

#include "absl/strings/str_cat.h"

namespace syncblock {
namespace {

// The highest canonical code (UNAUTHENTICATED) in both libraries.
constexpr int kLastCanonicalCode = 16;

bool Canonical(int code) { return code >= 0 && code <= kLastCanonicalCode; }

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  int code = static_cast<int>(s.code());
  if (!Canonical(code)) code = static_cast<int>(grpc::StatusCode::UNKNOWN);
  return grpc::Status(static_cast<grpc::StatusCode>(code), std::string(s.message()));
}

absl::Status FromGrpcStatus(const grpc::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  int code = static_cast<int>(s.error_code());
  // A non-canonical code from the wire must not become OK or a code that no
  // caller expects.
  if (!Canonical(code)) code = static_cast<int>(absl::StatusCode::kUnknown);
  std::string message =
      what.empty() ? s.error_message() : absl::StrCat(what, ": ", s.error_message());
  return absl::Status(static_cast<absl::StatusCode>(code), message);
}

std::string GrpcCodeName(grpc::StatusCode code) {
  int n = static_cast<int>(code);
  if (!Canonical(n)) return absl::StrCat("CODE_", n);
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(n));
}

}  // namespace syncblock
