#include "replication/wire/snapshot_record.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "replication/types/json_fields.h"

namespace syncblock::repl {

using nlohmann::json;

std::string EncodeSnapshotRecord(const SnapshotRecord& r) {
  json j;
  j["name"] = r.name;
  j["size_bytes"] = r.size_bytes;
  j["seq"] = r.seq;
  j["created_unix_ms"] = r.created_unix_ms;
  j["materialized"] = r.materialized;
  return j.dump();
}

absl::StatusOr<SnapshotRecord> DecodeSnapshotRecord(const std::string& text) {
  try {
    json j = json::parse(text);
    SnapshotRecord r;
    r.name = j.at("name").get<std::string>();
    r.size_bytes = IntegerAt<uint64_t>(j, "size_bytes");
    r.seq = IntegerAt<uint64_t>(j, "seq");
    r.created_unix_ms = IntegerAt<int64_t>(j, "created_unix_ms");
    r.materialized = j.value("materialized", false);
    r.complete = !r.materialized;
    if (!ValidSnapshotName(r.name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("snapshot record: invalid name '", r.name, "'"));
    }
    return r;
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("snapshot record is not valid: ", e.what()));
  }
}

}  // namespace syncblock::repl
