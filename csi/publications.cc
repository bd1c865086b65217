#include "csi/publications.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "csi/csi_constants.h"

namespace syncblock::csi {

std::string PublicationKey(const std::string& node_id) {
  return absl::StrCat(kAttrPublishPrefix, node_id);
}

std::string EncodePublication(const Publication& p) {
  return absl::StrCat(p.readonly ? "ro" : "rw", ",", p.block ? "block" : "mount", ",",
                      ModeName(p.mode));
}

absl::StatusOr<Publication> DecodePublication(const std::string& node_id,
                                              const std::string& value) {
  std::vector<std::string> parts = absl::StrSplit(value, ',');
  Publication p;
  p.node_id = node_id;
  AccessMode::Mode mode;
  if (parts.size() != 3 || (parts[0] != "ro" && parts[0] != "rw") ||
      (parts[1] != "block" && parts[1] != "mount") || !AccessMode::Mode_Parse(parts[2], &mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("publication record '", value, "' for node ", node_id, " is not valid"));
  }
  p.readonly = parts[0] == "ro";
  p.block = parts[1] == "block";
  p.mode = mode;
  return p;
}

std::vector<Publication> PublicationsFromAttributes(
    const std::map<std::string, std::string>& attributes) {
  std::vector<Publication> out;
  for (const auto& [key, value] : attributes) {
    if (!absl::StartsWith(key, kAttrPublishPrefix)) continue;
    auto p = DecodePublication(key.substr(sizeof(kAttrPublishPrefix) - 1), value);
    if (p.ok()) out.push_back(*p);
  }
  return out;
}

absl::StatusOr<PublishDecision> CheckPublish(const std::vector<Publication>& existing,
                                             const Publication& wanted,
                                             const std::string& volume_id) {
  std::vector<const Publication*> others;
  for (const auto& p : existing) {
    if (p.node_id != wanted.node_id) {
      others.push_back(&p);
      continue;
    }
    if (p == wanted) return PublishDecision::kAlreadyPublished;
    return absl::AlreadyExistsError(
        absl::StrCat("volume ", volume_id, " is already published to node ", wanted.node_id, " as ",
                     EncodePublication(p), "; requested ", EncodePublication(wanted)));
  }
  if (others.empty()) return PublishDecision::kNew;

  std::vector<const Publication*> all = others;
  all.push_back(&wanted);
  int writers = 0;
  bool all_writers_shared_block = true;
  for (const Publication* p : all) {
    if (IsSingleNodeMode(p->mode)) {
      return absl::FailedPreconditionError(
          absl::StrCat("volume ", volume_id, " is published to node ", others.front()->node_id,
                       " and access mode ", ModeName(p->mode), " allows a single node"));
    }
    if (!p->readonly) {
      ++writers;
      all_writers_shared_block &= p->block && p->mode == AccessMode::MULTI_NODE_MULTI_WRITER;
    }
  }
  if (writers > 1 && !all_writers_shared_block) {
    return absl::FailedPreconditionError(absl::StrCat(
        "volume ", volume_id, " would have ", writers,
        " read-write publications; only MULTI_NODE_MULTI_WRITER block volumes allow that"));
  }
  return PublishDecision::kNew;
}

}  // namespace syncblock::csi
