// The steps a promotion takes (failover.md, DESIGN.md rules 3 and 7),
// shared by the ordinary one (promotion.cc) and the one that accepts data
// loss (forced_promotion.cc).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "replication/engine/replica.h"
#include "replication/proto/control.grpc.pb.h"

namespace syncblock::repl {

// One member's answer to "accept epoch E with this node as primary".
struct EpochAnswer {
  MemberInfo member;
  bool asked = false;
  absl::StatusOr<AcceptEpochResult> result = absl::UnknownError("not asked");
};

std::unique_ptr<syncblock::control::v1::StorageControl::Stub> ControlStub(
    const std::string& address);

// Asks `member` (another node) to accept `epoch` with `self` as primary.
absl::StatusOr<AcceptEpochResult> AskToAcceptEpoch(const MemberInfo& member, const Manifest& m,
                                                   uint64_t epoch, const std::string& self,
                                                   const ReleasedPrimary& released,
                                                   std::chrono::milliseconds timeout);

// Asks every member not asked yet, at once; this node's own replica
// (`replica`, member `self`) answers in-process.
void AskInParallel(std::vector<EpochAnswer>& answers, const Manifest& m, uint64_t epoch,
                   Replica& replica, const std::string& self, const ReleasedPrimary& released,
                   std::chrono::milliseconds timeout);

// Copies into `replica` every region whose checksum differs from `source`'s,
// as the candidate of `epoch`.
absl::Status CatchUpFrom(Replica& replica, uint64_t epoch, const MemberInfo& source,
                         std::chrono::milliseconds timeout);

// Writes the snapshot registry the new primary starts with: every snapshot
// held complete by a replica that accepted `epoch`.
absl::Status SeedSnapshotRegistry(Replica& replica, const std::vector<EpochAnswer>& answers,
                                  const std::string& self, uint64_t epoch,
                                  std::chrono::milliseconds timeout);

}  // namespace syncblock::repl
