// The members a promotion that accepted data loss removed from a volume
// (replication/doc/async_replicas.md, "Promotion"). Their replicas still name
// themselves members, and together may be a majority of the old member list:
// every replica that knows of the removal refuses them its vote and their
// hellos, and a removed replica that learns of it stops taking part. Kept in
// the volume's attributes, so that it travels with every hello and manifest
// frame to every member; set only by that promotion, and cleared for a node
// that is added again (`ctl replica add`).
#pragma once

#include <map>
#include <set>
#include <string>

namespace syncblock::repl {

inline constexpr char kAttrRemovedMembers[] = "members.removed";

// The node ids the attributes name removed (comma-separated).
std::set<std::string> RemovedMembers(const std::map<std::string, std::string>& attributes);
bool IsRemovedMember(const std::map<std::string, std::string>& attributes,
                     const std::string& node_id);
// The attributes come from a primary of the lineage that a promotion which
// accepted data loss started (the attribute is there, even empty).
bool AfterForcedPromotion(const std::map<std::string, std::string>& attributes);
// Adds `node_ids` to the removed members in `attributes` (in place).
void AddRemovedMembers(std::map<std::string, std::string>& attributes,
                       const std::set<std::string>& node_ids);
// Takes `node_id` off the list (it was added again). The attribute stays,
// empty if need be: it marks the volume's lineage after such a promotion.
void ClearRemovedMember(std::map<std::string, std::string>& attributes, const std::string& node_id);

}  // namespace syncblock::repl
