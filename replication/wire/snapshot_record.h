// The JSON payload of a kSnapshot frame (replication/doc/wire_format.md): the
// snapshot's record, and whether the replica cuts it now (a barrier in the
// write stream) or starts an empty full copy that kSnapshotData frames fill.
// Pure encoding; thread-compatible.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "replication/types/volume_types.h"  // SnapshotRecord, ValidSnapshotName

namespace syncblock::repl {

std::string EncodeSnapshotRecord(const SnapshotRecord& r);
// INVALID_ARGUMENT for malformed JSON or an invalid name.
absl::StatusOr<SnapshotRecord> DecodeSnapshotRecord(const std::string& json);

}  // namespace syncblock::repl
