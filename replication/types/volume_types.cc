#include "replication/types/volume_types.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "replication/types/json_fields.h"

namespace syncblock::repl {
namespace {

using nlohmann::json;

bool ValidDirectoryName(const std::string& name) {
  if (name.empty() || name.size() > 128 || name[0] == '.') return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

json MembersToJsonValue(const std::vector<MemberInfo>& members) {
  json out = json::array();
  for (const auto& mem : members) {
    json m = {{"node_id", mem.node_id},
              {"control", mem.control_address},
              {"replication", mem.replication_address},
              {"nbd", mem.nbd_address},
              {"zone", mem.zone}};
    // Absent when false: members written before witnesses existed read the same.
    if (mem.witness) m["witness"] = true;
    if (mem.async) m["async"] = true;
    out.push_back(std::move(m));
  }
  return out;
}

std::string MembersToJson(const std::vector<MemberInfo>& members) {
  return MembersToJsonValue(members).dump();
}

absl::StatusOr<std::vector<MemberInfo>> MembersFromJsonValue(const json& members) {
  try {
    if (!members.is_array()) {
      return absl::InvalidArgumentError(
          absl::StrCat("member list is not valid: an array is needed, not ", members.type_name()));
    }
    std::vector<MemberInfo> out;
    for (const auto& mem : members) {
      out.push_back({mem.at("node_id").get<std::string>(), mem.value("control", ""),
                     mem.value("replication", ""), mem.value("nbd", ""), mem.value("zone", ""),
                     mem.value("witness", false), mem.value("async", false)});
    }
    return out;
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("member list is not valid: ", e.what()));
  }
}

absl::StatusOr<std::vector<MemberInfo>> MembersFromJson(const std::string& text) {
  json members = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (members.is_discarded()) {
    return absl::InvalidArgumentError("member list is not valid: not JSON");
  }
  return MembersFromJsonValue(members);
}

bool ValidVolumeId(const std::string& id) { return ValidDirectoryName(id); }

bool ValidSnapshotName(const std::string& name) { return ValidDirectoryName(name); }

}  // namespace syncblock::repl
