#include "replication/wire/hello.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace syncblock::repl {

using nlohmann::json;

std::string EncodeHello(const HelloRequest& h) {
  json j;
  j["volume_id"] = h.volume_id;
  j["epoch"] = h.epoch;
  j["primary"] = h.primary_node_id;
  j["members"] = json::parse(MembersToJson(h.members));
  j["size_bytes"] = h.size_bytes;
  j["region_size"] = h.region_size;
  j["attributes"] = h.attributes;
  j["create_if_missing"] = h.create_if_missing;
  if (h.snapshots) j["snapshots"] = *h.snapshots;
  return j.dump();
}

absl::StatusOr<HelloRequest> DecodeHello(const std::string& text) {
  try {
    json j = json::parse(text);
    // get<uint64_t>() would silently wrap -1 to 2^64-1 (an unbeatable epoch).
    if (!j.at("epoch").is_number_unsigned() || !j.at("size_bytes").is_number_unsigned() ||
        !j.at("region_size").is_number_unsigned()) {
      return absl::InvalidArgumentError(
          "hello: epoch, size_bytes and region_size must be unsigned integers");
    }
    HelloRequest h;
    h.volume_id = j.at("volume_id").get<std::string>();
    h.epoch = j.at("epoch").get<uint64_t>();
    h.primary_node_id = j.at("primary").get<std::string>();
    auto members = MembersFromJson(j.at("members").dump());
    if (!members.ok()) return members.status();
    h.members = *members;
    h.size_bytes = j.at("size_bytes").get<uint64_t>();
    h.region_size = j.at("region_size").get<uint64_t>();
    h.attributes = j.value("attributes", std::map<std::string, std::string>{});
    h.create_if_missing = j.value("create_if_missing", false);
    if (j.contains("snapshots")) h.snapshots = j.at("snapshots").get<std::vector<std::string>>();
    if (!ValidVolumeId(h.volume_id) || h.region_size == 0 || h.epoch == 0) {
      return absl::InvalidArgumentError("hello: invalid volume id, region size or epoch");
    }
    return h;
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("hello is not valid: ", e.what()));
  }
}

std::string EncodeHelloReply(const HelloReply& r) {
  json j;
  j["status"] = static_cast<uint32_t>(r.status);
  j["message"] = r.message;
  j["epoch"] = r.epoch;
  j["data_generation"] = r.data_generation;
  j["applied_seq"] = r.applied_seq;
  j["dirty_hint"] = r.dirty_hint;
  j["snapshots"] = r.snapshots;
  j["lost_unsynced"] = r.lost_unsynced;
  return j.dump();
}

absl::StatusOr<HelloReply> DecodeHelloReply(const std::string& text) {
  try {
    json j = json::parse(text);
    HelloReply r;
    r.status = static_cast<WireStatus>(j.at("status").get<uint32_t>());
    r.message = j.value("message", "");
    r.epoch = j.at("epoch").get<uint64_t>();
    r.data_generation = j.value("data_generation", "");
    r.applied_seq = j.value("applied_seq", uint64_t{0});
    r.dirty_hint = j.value("dirty_hint", std::vector<uint64_t>{});
    r.snapshots = j.value("snapshots", std::vector<std::string>{});
    r.lost_unsynced = j.value("lost_unsynced", false);
    return r;
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("hello reply is not valid: ", e.what()));
  }
}

}  // namespace syncblock::repl
