#include "csi/status_mapping.h"

#include <gtest/gtest.h>

namespace syncblock::csi {
namespace {

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
