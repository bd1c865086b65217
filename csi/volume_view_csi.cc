#include "csi/volume_view_csi.h"

#include <cmath>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "csi/csi_constants.h"
#include "csi/publications.h"
#include "csi/snapshot_view_csi.h"

namespace syncblock::csi {

std::map<std::string, std::string> StoredParameters(const repl::VolumeView& view) {
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : view.attributes) {
    if (absl::StartsWith(key, kAttrParamPrefix))
      out[key.substr(sizeof(kAttrParamPrefix) - 1)] = value;
  }
  return out;
}

::csi::v1::Volume VolumeFromView(const repl::VolumeView& view) {
  ::csi::v1::Volume v;
  v.set_volume_id(view.id);
  v.set_capacity_bytes(static_cast<int64_t>(view.size_bytes));
  for (const auto& [key, value] : StoredParameters(view))
    (*v.mutable_volume_context())[key] = value;
  auto zones = view.attributes.find(kAttrZones);
  if (zones != view.attributes.end()) {
    for (absl::string_view zone : absl::StrSplit(zones->second, ',', absl::SkipEmpty())) {
      (*v.add_accessible_topology()->mutable_segments())[kTopologyZoneKey] = std::string(zone);
    }
  }
  if (auto source = ContentSourceOf(view)) *v.mutable_content_source() = *source;
  return v;
}

::csi::v1::VolumeCondition ConditionOf(const repl::VolumeView& view) {
  std::vector<std::string> problems;
  int in_sync = 0;
  for (const auto& r : view.replicas) {
    if (r.state == "in_sync") {
      ++in_sync;
      continue;
    }
    std::string p = absl::StrCat("replica on node ", r.node, " is ", r.state);
    if (r.state == "resyncing" && r.bytes_total > 0) {
      absl::StrAppend(&p, " (",
                      static_cast<int>(std::floor(100.0 * r.bytes_copied / r.bytes_total)),
                      "% copied)");
    }
    if (!r.message.empty()) absl::StrAppend(&p, ": ", r.message);
    problems.push_back(std::move(p));
  }
  if (view.primary.empty()) {
    problems.insert(problems.begin(), "no primary is serving the volume");
  } else if (view.nbd_uri.empty() || !view.serving) {
    // The replicas elect another primary once the lease runs out
    // (replication/doc/failover.md); attachments hold their IO meanwhile.
    problems.insert(problems.begin(),
                    absl::StrCat("failing over: no primary serves the volume (", view.primary,
                                 " was primary at epoch ", view.epoch, ")"));
  }
  ::csi::v1::VolumeCondition c;
  c.set_abnormal(!problems.empty());
  if (problems.empty()) {
    c.set_message(absl::StrCat(in_sync, " of ", view.replicas.size(),
                               " replicas in sync, primary on node ", view.primary));
  } else {
    c.set_message(absl::StrJoin(problems, "; "));
  }
  return c;
}

std::vector<std::string> PublishedNodeIds(const repl::VolumeView& view) {
  std::vector<std::string> out;
  for (const auto& p : PublicationsFromAttributes(view.attributes)) out.push_back(p.node_id);
  return out;
}

}  // namespace syncblock::csi
