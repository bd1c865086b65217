// libFuzzer target for the snapshot decoders: the kSnapshot frame's JSON
// record from a peer (replication/wire/snapshot_record.h), the kSnapshotData
// payload's name prefix (wire_format.h), and a replica's snapshots/index.json
// as read from disk (replication/store/snapshot_index.h). The input is fed to
// each. What a decoder accepts keeps its promises (valid snapshot names, the
// name and data partition the payload) and survives encode -> decode
// unchanged; what it refuses is a status of the documented code, never an
// exception or a crash. Any crash, sanitizer report or abort is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "replication/store/snapshot_index.h"
#include "replication/wire/snapshot_record.h"
#include "replication/wire/wire_format.h"

namespace {

using namespace syncblock::repl;  // NOLINT

bool Same(const SnapshotRecord& a, const SnapshotRecord& b) {
  return a.name == b.name && a.size_bytes == b.size_bytes && a.seq == b.seq &&
         a.created_unix_ms == b.created_unix_ms && a.materialized == b.materialized &&
         a.complete == b.complete;
}

void Record(const std::string& text) {
  absl::StatusOr<SnapshotRecord> r = DecodeSnapshotRecord(text);
  if (!r.ok()) {
    if (r.status().code() != absl::StatusCode::kInvalidArgument) abort();
    return;
  }
  if (!ValidSnapshotName(r->name)) abort();
  // A record from the wire is complete unless it starts a full copy.
  if (r->complete == r->materialized) abort();
  absl::StatusOr<SnapshotRecord> again = DecodeSnapshotRecord(EncodeSnapshotRecord(*r));
  if (!again.ok() || !Same(*r, *again)) abort();
}

void Index(const std::string& text) {
  absl::StatusOr<std::vector<SnapshotIndexEntry>> index = SnapshotIndexFromJson(text);
  if (!index.ok()) {
    if (index.status().code() != absl::StatusCode::kDataLoss &&
        index.status().code() != absl::StatusCode::kFailedPrecondition) {
      abort();
    }
    return;
  }
  for (const SnapshotIndexEntry& e : *index) {
    if (!ValidSnapshotName(e.record.name)) abort();
  }
  const std::string again_text = SnapshotIndexToJson(*index);
  absl::StatusOr<std::vector<SnapshotIndexEntry>> again = SnapshotIndexFromJson(again_text);
  if (!again.ok() || again->size() != index->size()) abort();
  for (size_t i = 0; i < index->size(); ++i) {
    if (!Same((*index)[i].record, (*again)[i].record) ||
        (*index)[i].deleting != (*again)[i].deleting) {
      abort();
    }
  }
  if (SnapshotIndexToJson(*again) != again_text) abort();
}

void Data(std::string_view payload) {
  auto decoded = DecodeSnapshotData(payload);
  if (!decoded.ok()) {
    if (decoded.status().code() != absl::StatusCode::kInvalidArgument) abort();
    return;
  }
  const auto& [name, data] = *decoded;
  // Both are views into the payload: the prefix byte, the name, the data.
  if (name.empty() || name.size() > 255 || name.data() != payload.data() + 1 ||
      data.data() != name.data() + name.size() || 1 + name.size() + data.size() != payload.size()) {
    abort();
  }
  if (EncodeSnapshotData(name, data) != payload) abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  Record(text);
  Index(text);
  Data(text);
  return 0;
}
