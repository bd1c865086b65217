#include "replication/types/removed_members.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace syncblock::repl {
namespace {

void Store(std::map<std::string, std::string>& attributes, const std::set<std::string>& ids) {
  attributes[kAttrRemovedMembers] = absl::StrJoin(ids, ",");
  attributes[kAttrRemovedVersion] = absl::StrCat(RemovedVersion(attributes) + 1);
}

}  // namespace

std::set<std::string> RemovedMembers(const std::map<std::string, std::string>& attributes) {
  auto it = attributes.find(kAttrRemovedMembers);
  if (it == attributes.end()) return {};
  return absl::StrSplit(it->second, ',', absl::SkipEmpty());
}

bool IsRemovedMember(const std::map<std::string, std::string>& attributes,
                     const std::string& node_id) {
  return RemovedMembers(attributes).count(node_id) > 0;
}

uint64_t RemovedVersion(const std::map<std::string, std::string>& attributes) {
  auto it = attributes.find(kAttrRemovedVersion);
  uint64_t version = 0;
  if (it == attributes.end() || !absl::SimpleAtoi(it->second, &version)) return 0;
  return version;
}

void AddRemovedMembers(std::map<std::string, std::string>& attributes,
                       const std::set<std::string>& node_ids) {
  std::set<std::string> ids = RemovedMembers(attributes);
  ids.insert(node_ids.begin(), node_ids.end());
  Store(attributes, ids);
}

void ClearRemovedMember(std::map<std::string, std::string>& attributes,
                        const std::string& node_id) {
  std::set<std::string> ids = RemovedMembers(attributes);
  if (ids.erase(node_id) == 0) return;
  Store(attributes, ids);
}

bool SpeaksForAnOlderVolume(const std::map<std::string, std::string>& local,
                            const std::string& primary,
                            const std::map<std::string, std::string>& hello) {
  return IsRemovedMember(local, primary) || RemovedVersion(hello) < RemovedVersion(local);
}

void AdoptRemovedRecord(std::map<std::string, std::string>& attributes,
                        const std::map<std::string, std::string>& from) {
  for (const char* key : {kAttrRemovedMembers, kAttrRemovedVersion}) {
    auto it = from.find(key);
    if (it == from.end()) {
      attributes.erase(key);
    } else {
      attributes[key] = it->second;
    }
  }
}

}  // namespace syncblock::repl
