// The members a promotion that accepted data loss removed from a volume
// (replication/doc/async_replicas.md, "Promotion"). Their replicas still name
// themselves members, and together may be a majority of the old member list:
// every replica that knows of the removal refuses them its vote and their
// hellos, and a removed replica that learns of it stops taking part.
//
// Kept in the volume's attributes, so that it travels with every hello and
// manifest frame to every member: the list, and a version that every change
// raises (a promotion that removes, `ctl replica add` that takes a node off
// it). A record of a higher version is the newer lineage of the volume: it
// wins over an older one whatever their epochs, and an older one is never
// believed over it. Set only by that promotion and by replica add.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>

namespace syncblock::repl {

inline constexpr char kAttrRemovedMembers[] = "members.removed";
inline constexpr char kAttrRemovedVersion[] = "members.removed-version";

// The node ids the attributes name removed (comma-separated).
std::set<std::string> RemovedMembers(const std::map<std::string, std::string>& attributes);
bool IsRemovedMember(const std::map<std::string, std::string>& attributes,
                     const std::string& node_id);
// 0 for a volume that never had such a promotion.
uint64_t RemovedVersion(const std::map<std::string, std::string>& attributes);
// Adds `node_ids` to the removed members in `attributes` (in place), raising
// the version.
void AddRemovedMembers(std::map<std::string, std::string>& attributes,
                       const std::set<std::string>& node_ids);
// Takes `node_id` off the list (it was added again), raising the version;
// nothing when it is not on it.
void ClearRemovedMember(std::map<std::string, std::string>& attributes, const std::string& node_id);
// A hello's primary speaks for the volume as it was before a promotion that
// accepted data loss: the local record removed it, or the hello's record is
// older. Its primary must fence itself.
bool SpeaksForAnOlderVolume(const std::map<std::string, std::string>& local,
                            const std::string& primary,
                            const std::map<std::string, std::string>& hello);
// Replaces the record in `attributes` with the one in `from`.
void AdoptRemovedRecord(std::map<std::string, std::string>& attributes,
                        const std::map<std::string, std::string>& from);

}  // namespace syncblock::repl
