#include "replication/node/remote_registry.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "replication/store/file_util.h"
#include "replication/types/json_fields.h"

namespace syncblock::repl {
namespace {

namespace pb = control::v1;
using json = nlohmann::json;

json ToJson(const pb::RemoteRecord& r) {
  json nodes = json::array();
  for (const auto& n : r.storage_nodes()) nodes.push_back(n);
  return json{{"name", r.name()},
              {"storage_nodes", nodes},
              {"volume_prefix", r.volume_prefix()},
              {"updated_unix_ms", r.updated_unix_ms()},
              {"deleted", r.deleted()}};
}

pb::RemoteRecord FromJson(const json& j) {
  pb::RemoteRecord r;
  r.set_name(j.at("name").get<std::string>());
  for (const auto& n : j.at("storage_nodes")) r.add_storage_nodes(n.get<std::string>());
  r.set_volume_prefix(j.at("volume_prefix").get<std::string>());
  r.set_updated_unix_ms(IntegerAt<int64_t>(j, "updated_unix_ms"));
  r.set_deleted(j.at("deleted").get<bool>());
  return r;
}

}  // namespace

absl::Status ValidateRemoteName(const std::string& name) {
  bool ok = !name.empty() && name.size() <= 63 && name.front() != '-';
  for (char c : name) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
  }
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("remote name \"", name,
                   "\" must be 1-63 of a-z, 0-9 and -, starting with a letter or digit"));
}

absl::Status RemoteRegistry::LoadLocked() {
  if (loaded_) return absl::OkStatus();
  std::error_code ec;
  if (!std::filesystem::exists(path_, ec)) {
    loaded_ = true;
    return absl::OkStatus();
  }
  std::ifstream in(path_);
  std::stringstream text;
  text << in.rdbuf();
  if (!in.good() && !in.eof()) return absl::DataLossError(absl::StrCat("reading ", path_));
  try {
    json j = json::parse(text.str());
    if (IntegerAt<int>(j, "format_version") != 1) {
      return absl::DataLossError(absl::StrCat(path_, ": unknown format_version"));
    }
    std::vector<pb::RemoteRecord> records;
    for (const auto& r : j.at("remotes")) records.push_back(FromJson(r));
    records_ = std::move(records);
  } catch (const json::exception& e) {
    return absl::DataLossError(absl::StrCat(path_, ": ", e.what()));
  }
  loaded_ = true;
  return absl::OkStatus();
}

absl::StatusOr<pb::RemoteRecord> RemoteRegistry::Put(const pb::RemoteRecord& record) {
  if (absl::Status s = ValidateRemoteName(record.name()); !s.ok()) return s;
  if (record.updated_unix_ms() <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("remote ", record.name(), ": no updated_unix_ms"));
  }
  if (!record.deleted() && record.storage_nodes().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("remote ", record.name(), ": give its storage nodes (host:port, ...)"));
  }
  absl::MutexLock l(&mu_);
  if (absl::Status s = LoadLocked(); !s.ok()) return s;
  auto it = std::find_if(records_.begin(), records_.end(),
                         [&](const pb::RemoteRecord& r) { return r.name() == record.name(); });
  if (it != records_.end() && it->updated_unix_ms() >= record.updated_unix_ms()) return *it;
  std::vector<pb::RemoteRecord> next = records_;
  if (it != records_.end()) {
    next[it - records_.begin()] = record;
  } else {
    next.push_back(record);
    std::sort(next.begin(), next.end(), [](const pb::RemoteRecord& a, const pb::RemoteRecord& b) {
      return a.name() < b.name();
    });
  }
  json all = json::array();
  for (const auto& r : next) all.push_back(ToJson(r));
  json file{{"format_version", 1}, {"remotes", all}};
  if (absl::Status s = WriteFileSynced(path_, file.dump(2) + "\n"); !s.ok()) return s;
  records_ = std::move(next);
  return record;
}

absl::StatusOr<std::vector<pb::RemoteRecord>> RemoteRegistry::List() {
  absl::MutexLock l(&mu_);
  if (absl::Status s = LoadLocked(); !s.ok()) return s;
  return records_;
}

}  // namespace syncblock::repl
