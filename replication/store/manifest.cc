#include "replication/store/manifest.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "replication/types/json_fields.h"

namespace syncblock::repl {

using nlohmann::json;

const MemberInfo* Manifest::FindMember(const std::string& node_id) const {
  for (const auto& m : members) {
    if (m.node_id == node_id) return &m;
  }
  return nullptr;
}

bool Manifest::IsWitness(const std::string& node_id) const {
  const MemberInfo* m = FindMember(node_id);
  return m && m->witness;
}

bool Manifest::IsAsync(const std::string& node_id) const {
  const MemberInfo* m = FindMember(node_id);
  return m && m->async;
}

int Manifest::VotingMembers() const {
  int n = 0;
  for (const auto& m : members) n += m.async ? 0 : 1;
  return n;
}

std::string ManifestToJson(const Manifest& m) {
  json j;
  j["format_version"] = m.format_version;
  j["volume_id"] = m.volume_id;
  j["size_bytes"] = m.size_bytes;
  j["region_size"] = m.region_size;
  j["epoch"] = m.epoch;
  j["primary"] = m.primary_node_id;
  j["members"] = MembersToJsonValue(m.members);
  j["data_generation"] = m.data_generation;
  j["member_generations"] = m.member_generations;
  j["checksum_resync"] = m.checksum_resync;
  j["consistent"] = m.consistent;
  j["boot_id"] = m.boot_id;
  j["primary_confirmed"] = m.primary_confirmed;
  j["primary_since_unix_ms"] = m.primary_since_unix_ms;
  j["last_failover_unix_ms"] = m.last_failover_unix_ms;
  j["last_failover_from"] = m.last_failover_from;
  j["last_failover_reason"] = m.last_failover_reason;
  j["attributes"] = m.attributes;
  if (!m.outdated.empty()) j["outdated"] = m.outdated;
  return j.dump(2);
}

absl::StatusOr<Manifest> ManifestFromJson(const std::string& text) {
  try {
    json j = json::parse(text);
    Manifest m;
    m.format_version = IntegerAt<int>(j, "format_version");
    if (m.format_version > kManifestFormatVersion) {
      return absl::FailedPreconditionError(absl::StrCat("manifest format ", m.format_version,
                                                        " is newer than this binary's ",
                                                        kManifestFormatVersion));
    }
    // v1 differs only by having no snapshots directory, which the store
    // treats as no snapshots: the upgrade is the new number.
    m.format_version = kManifestFormatVersion;
    m.volume_id = j.at("volume_id").get<std::string>();
    m.size_bytes = IntegerAt<uint64_t>(j, "size_bytes");
    m.region_size = IntegerAt<uint64_t>(j, "region_size");
    m.epoch = IntegerAt<uint64_t>(j, "epoch");
    m.primary_node_id = j.at("primary").get<std::string>();
    auto members = MembersFromJsonValue(j.at("members"));
    if (!members.ok()) return absl::DataLossError(members.status().message());
    m.members = std::move(*members);
    m.data_generation = j.at("data_generation").get<std::string>();
    m.member_generations = j.value("member_generations", std::map<std::string, std::string>{});
    m.checksum_resync = j.value("checksum_resync", std::set<std::string>{});
    m.consistent = j.value("consistent", true);
    m.boot_id = j.value("boot_id", "");
    m.primary_confirmed = j.value("primary_confirmed", true);
    m.primary_since_unix_ms = IntegerOr<int64_t>(j, "primary_since_unix_ms", 0);
    m.last_failover_unix_ms = IntegerOr<int64_t>(j, "last_failover_unix_ms", 0);
    m.last_failover_from = j.value("last_failover_from", "");
    m.last_failover_reason = j.value("last_failover_reason", "");
    m.attributes = j.value("attributes", std::map<std::string, std::string>{});
    m.outdated = j.value("outdated", std::set<std::string>{});
    if (m.region_size == 0 || !ValidVolumeId(m.volume_id)) {
      return absl::DataLossError("manifest has an invalid region size or volume id");
    }
    return m;
  } catch (const json::exception& e) {
    return absl::DataLossError(absl::StrCat("manifest is not valid: ", e.what()));
  }
}

}  // namespace syncblock::repl
