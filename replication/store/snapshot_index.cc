#include "replication/store/snapshot_index.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "replication/types/json_fields.h"

namespace syncblock::repl {

using nlohmann::json;

std::string SnapshotIndexToJson(const std::vector<SnapshotIndexEntry>& entries) {
  json j;
  j["version"] = kSnapshotIndexVersion;
  j["snapshots"] = json::array();
  for (const auto& e : entries) {
    const SnapshotRecord& r = e.record;
    j["snapshots"].push_back({{"name", r.name},
                              {"size_bytes", r.size_bytes},
                              {"seq", r.seq},
                              {"created_unix_ms", r.created_unix_ms},
                              {"materialized", r.materialized},
                              {"complete", r.complete},
                              {"deleting", e.deleting}});
  }
  return j.dump(2);
}

absl::StatusOr<std::vector<SnapshotIndexEntry>> SnapshotIndexFromJson(const std::string& text) {
  try {
    json j = json::parse(text);
    int version = IntegerAt<int>(j, "version");
    if (version > kSnapshotIndexVersion) {
      return absl::FailedPreconditionError(absl::StrCat("snapshot index version ", version,
                                                        " is newer than this binary's ",
                                                        kSnapshotIndexVersion));
    }
    std::vector<SnapshotIndexEntry> out;
    for (const auto& s : j.at("snapshots")) {
      SnapshotIndexEntry e;
      e.record.name = s.at("name").get<std::string>();
      e.record.size_bytes = IntegerAt<uint64_t>(s, "size_bytes");
      e.record.seq = IntegerOr<uint64_t>(s, "seq", 0);
      e.record.created_unix_ms = IntegerOr<int64_t>(s, "created_unix_ms", 0);
      e.record.materialized = s.value("materialized", false);
      e.record.complete = s.value("complete", true);
      e.deleting = s.value("deleting", false);
      if (!ValidSnapshotName(e.record.name)) {
        return absl::DataLossError(
            absl::StrCat("snapshot index has an invalid name ", e.record.name));
      }
      out.push_back(std::move(e));
    }
    return out;
  } catch (const json::exception& e) {
    return absl::DataLossError(absl::StrCat("snapshot index is not valid: ", e.what()));
  }
}

}  // namespace syncblock::repl
