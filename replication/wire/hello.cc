#include "replication/wire/hello.h"

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "replication/types/json_fields.h"

namespace syncblock::repl {

using nlohmann::json;

std::string EncodeHello(const HelloRequest& h) {
  json j;
  j["volume_id"] = h.volume_id;
  j["epoch"] = h.epoch;
  j["primary"] = h.primary_node_id;
  j["members"] = MembersToJsonValue(h.members);
  j["size_bytes"] = h.size_bytes;
  j["region_size"] = h.region_size;
  j["attributes"] = h.attributes;
  j["create_if_missing"] = h.create_if_missing;
  if (h.snapshots) j["snapshots"] = *h.snapshots;
  if (!h.data_key.empty()) j["data_key"] = absl::BytesToHexString(h.data_key);
  return j.dump();
}

absl::StatusOr<HelloRequest> DecodeHello(const std::string& text) {
  try {
    json j = json::parse(text);
    HelloRequest h;
    h.volume_id = j.at("volume_id").get<std::string>();
    // Not get<uint64_t>(), which would wrap -1 to 2^64-1 (an unbeatable epoch).
    h.epoch = IntegerAt<uint64_t>(j, "epoch");
    h.primary_node_id = j.at("primary").get<std::string>();
    auto members = MembersFromJsonValue(j.at("members"));
    if (!members.ok()) return members.status();
    h.members = *members;
    h.size_bytes = IntegerAt<uint64_t>(j, "size_bytes");
    h.region_size = IntegerAt<uint64_t>(j, "region_size");
    h.attributes = j.value("attributes", std::map<std::string, std::string>{});
    h.create_if_missing = j.value("create_if_missing", false);
    if (j.contains("snapshots")) h.snapshots = j.at("snapshots").get<std::vector<std::string>>();
    if (j.contains("data_key")) {
      // The message never quotes the value.
      const std::string hex = j.at("data_key").get<std::string>();
      if (hex.size() != 2 * kHelloDataKeySize ||
          hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("hello: data_key is not ", kHelloDataKeySize, " bytes in hexadecimal"));
      }
      h.data_key = absl::HexStringToBytes(hex);
    }
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
    r.status = static_cast<WireStatus>(IntegerAt<uint32_t>(j, "status"));
    r.message = j.value("message", "");
    r.epoch = IntegerAt<uint64_t>(j, "epoch");
    r.data_generation = j.value("data_generation", "");
    r.applied_seq = IntegerOr<uint64_t>(j, "applied_seq", 0);
    r.dirty_hint = IntegersOr<uint64_t>(j, "dirty_hint");
    r.snapshots = j.value("snapshots", std::vector<std::string>{});
    r.lost_unsynced = j.value("lost_unsynced", false);
    return r;
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("hello reply is not valid: ", e.what()));
  }
}

}  // namespace syncblock::repl
