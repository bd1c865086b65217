#include "csi/status_mapping.h"

#include <gtest/gtest.h>

namespace syncblock::csi {
namespace {

TEST(StatusMappingTest, OkIsOk) { EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok()); }

TEST(StatusMappingTest, CanonicalCodesKeepCodeAndMessage) {
  struct Case {
    absl::Status in;
    grpc::StatusCode out;
  };
  for (const Case& c : {
           Case{absl::InvalidArgumentError("m"), grpc::StatusCode::INVALID_ARGUMENT},
           Case{absl::NotFoundError("m"), grpc::StatusCode::NOT_FOUND},
           Case{absl::AlreadyExistsError("m"), grpc::StatusCode::ALREADY_EXISTS},
           Case{absl::FailedPreconditionError("m"), grpc::StatusCode::FAILED_PRECONDITION},
           Case{absl::AbortedError("m"), grpc::StatusCode::ABORTED},
           Case{absl::OutOfRangeError("m"), grpc::StatusCode::OUT_OF_RANGE},
           Case{absl::ResourceExhaustedError("m"), grpc::StatusCode::RESOURCE_EXHAUSTED},
           Case{absl::UnavailableError("m"), grpc::StatusCode::UNAVAILABLE},
           Case{absl::UnimplementedError("m"), grpc::StatusCode::UNIMPLEMENTED},
           Case{absl::DeadlineExceededError("m"), grpc::StatusCode::DEADLINE_EXCEEDED},
           Case{absl::InternalError("m"), grpc::StatusCode::INTERNAL},
           Case{absl::PermissionDeniedError("m"), grpc::StatusCode::PERMISSION_DENIED},
           Case{absl::UnauthenticatedError("m"), grpc::StatusCode::UNAUTHENTICATED},
           Case{absl::DataLossError("m"), grpc::StatusCode::DATA_LOSS},
           Case{absl::CancelledError("m"), grpc::StatusCode::CANCELLED},
           Case{absl::UnknownError("m"), grpc::StatusCode::UNKNOWN},
       }) {
    grpc::Status g = ToGrpcStatus(c.in);
    EXPECT_EQ(g.error_code(), c.out) << c.in;
    EXPECT_EQ(g.error_message(), "m");
  }
}

TEST(StatusMappingTest, StorageVerdictsBecomeRetryable) {
  EXPECT_EQ(FromStorage(absl::FailedPreconditionError("not the primary")).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(FromStorage(absl::AbortedError("x")).code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(FromStorage(absl::FailedPreconditionError("not the primary"))
                .message()
                .find("not the primary"),
            std::string::npos);
  EXPECT_EQ(FromStorage(absl::NotFoundError("x")).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(FromStorage(absl::ResourceExhaustedError("x")).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(FromStorage(absl::AlreadyExistsError("x")).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_TRUE(FromStorage(absl::OkStatus()).ok());
}

}  // namespace
}  // namespace syncblock::csi
