#include "replication/wire/snapshot_record.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

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
    if (!j.at("size_bytes").is_number_unsigned() || !j.at("seq").is_number_unsigned()) {
      return absl::InvalidArgumentError("snapshot record: size_bytes and seq must be unsigned");
    }
    SnapshotRecord r;
    r.name = j.at("name").get<std::string>();
    r.size_bytes = j.at("size_bytes").get<uint64_t>();
    r.seq = j.at("seq").get<uint64_t>();
    r.created_unix_ms = j.at("created_unix_ms").get<int64_t>();
    r.materialized = j.value("materialized", false);
    r.complete = !r.materialized;
    if (!ValidSnapshotName(r.name)) {
      return absl::InvalidArgumentError(absl::StrCat("snapshot record: invalid name '", r.name, "'"));
    }
    return r;
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("snapshot record is not valid: ", e.what()));
  }
}

}  // namespace syncblock::repl
