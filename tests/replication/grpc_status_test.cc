#include "replication/util/grpc_status.h"

#include <gtest/gtest.h>

#include <vector>

namespace syncblock {
namespace {

struct CodePair {
  absl::StatusCode absl_code;
  grpc::StatusCode grpc_code;
  const char* name;
};

const std::vector<CodePair>& AllErrorCodes() {
  static const std::vector<CodePair> kCodes = {
      {absl::StatusCode::kCancelled, grpc::StatusCode::CANCELLED, "CANCELLED"},
      {absl::StatusCode::kUnknown, grpc::StatusCode::UNKNOWN, "UNKNOWN"},
      {absl::StatusCode::kInvalidArgument, grpc::StatusCode::INVALID_ARGUMENT, "INVALID_ARGUMENT"},
      {absl::StatusCode::kDeadlineExceeded, grpc::StatusCode::DEADLINE_EXCEEDED,
       "DEADLINE_EXCEEDED"},
      {absl::StatusCode::kNotFound, grpc::StatusCode::NOT_FOUND, "NOT_FOUND"},
      {absl::StatusCode::kAlreadyExists, grpc::StatusCode::ALREADY_EXISTS, "ALREADY_EXISTS"},
      {absl::StatusCode::kPermissionDenied, grpc::StatusCode::PERMISSION_DENIED,
       "PERMISSION_DENIED"},
      {absl::StatusCode::kResourceExhausted, grpc::StatusCode::RESOURCE_EXHAUSTED,
       "RESOURCE_EXHAUSTED"},
      {absl::StatusCode::kFailedPrecondition, grpc::StatusCode::FAILED_PRECONDITION,
       "FAILED_PRECONDITION"},
      {absl::StatusCode::kAborted, grpc::StatusCode::ABORTED, "ABORTED"},
      {absl::StatusCode::kOutOfRange, grpc::StatusCode::OUT_OF_RANGE, "OUT_OF_RANGE"},
      {absl::StatusCode::kUnimplemented, grpc::StatusCode::UNIMPLEMENTED, "UNIMPLEMENTED"},
      {absl::StatusCode::kInternal, grpc::StatusCode::INTERNAL, "INTERNAL"},
      {absl::StatusCode::kUnavailable, grpc::StatusCode::UNAVAILABLE, "UNAVAILABLE"},
      {absl::StatusCode::kDataLoss, grpc::StatusCode::DATA_LOSS, "DATA_LOSS"},
      {absl::StatusCode::kUnauthenticated, grpc::StatusCode::UNAUTHENTICATED, "UNAUTHENTICATED"},
  };
  return kCodes;
}

TEST(GrpcStatusTest, OkBothWays) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK, "Call on node-1").ok());
}

TEST(GrpcStatusTest, EveryCanonicalCodeKeepsCodeAndMessage) {
  for (const CodePair& c : AllErrorCodes()) {
    grpc::Status g = ToGrpcStatus(absl::Status(c.absl_code, "volume v1: m"));
    EXPECT_EQ(g.error_code(), c.grpc_code) << c.name;
    EXPECT_EQ(g.error_message(), "volume v1: m");

    absl::Status a = FromGrpcStatus(grpc::Status(c.grpc_code, "m"));
    EXPECT_EQ(a.code(), c.absl_code) << c.name;
    EXPECT_EQ(a.message(), "m");
  }
}

TEST(GrpcStatusTest, RoundTripIsIdentity) {
  for (const CodePair& c : AllErrorCodes()) {
    absl::Status in(c.absl_code, "replica r on node-2: disk full");
    EXPECT_EQ(FromGrpcStatus(ToGrpcStatus(in)), in) << c.name;
  }
}

TEST(GrpcStatusTest, WhatPrefixesTheMessage) {
  absl::Status s = FromGrpcStatus(grpc::Status(grpc::StatusCode::NOT_FOUND, "no replica of v1"),
                                  "GetReplica on node-2 (127.0.0.1:7400)");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "GetReplica on node-2 (127.0.0.1:7400): no replica of v1");
}

TEST(GrpcStatusTest, NonCanonicalCodesBecomeUnknownNeverOk) {
  // A peer (or a newer gRPC) may send a code outside 0..16.
  absl::Status s = FromGrpcStatus(grpc::Status(static_cast<grpc::StatusCode>(42), "odd"));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(s.message(), "odd");
  grpc::Status g = ToGrpcStatus(absl::Status(static_cast<absl::StatusCode>(42), "odd"));
  EXPECT_EQ(g.error_code(), grpc::StatusCode::UNKNOWN);
}

TEST(GrpcStatusTest, CodeNames) {
  for (const CodePair& c : AllErrorCodes()) EXPECT_EQ(GrpcCodeName(c.grpc_code), c.name);
  EXPECT_EQ(GrpcCodeName(grpc::StatusCode::OK), "OK");
  EXPECT_EQ(GrpcCodeName(static_cast<grpc::StatusCode>(42)), "CODE_42");
}

}  // namespace
}  // namespace syncblock
