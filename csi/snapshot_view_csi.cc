#include "csi/snapshot_view_csi.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "csi/csi_constants.h"
#include "csi/volume_parameters.h"
#include "replication/client/group_snapshots.h"

namespace syncblock::csi {

std::string SnapshotNameForCsiName(const std::string& csi_name) {
  std::string name = VolumeIdForName(csi_name);
  // Names of the form grp.N.BASE are group members': another CSI name that
  // happens to have that form is hashed instead ('#' is never kept as is).
  if (!repl::GroupOfSnapshot(name).empty()) name = VolumeIdForName(absl::StrCat("#", csi_name));
  return name;
}

::csi::v1::Snapshot SnapshotFromView(const repl::ClusterSnapshotView& view) {
  ::csi::v1::Snapshot s;
  s.set_snapshot_id(view.id);
  s.set_source_volume_id(view.volume_id);
  s.set_size_bytes(static_cast<int64_t>(view.size_bytes));
  s.mutable_creation_time()->set_seconds(view.creation_time_unix_ms / 1000);
  s.mutable_creation_time()->set_nanos(static_cast<int32_t>(view.creation_time_unix_ms % 1000) *
                                       1000000);
  s.set_ready_to_use(view.ready_to_use);
  s.set_group_snapshot_id(repl::GroupOfSnapshot(view.name));
  return s;
}

std::string ContentSourceAttribute(const ::csi::v1::VolumeContentSource& source) {
  if (source.has_snapshot())
    return absl::StrCat(kSourceSnapshotPrefix, source.snapshot().snapshot_id());
  if (source.has_volume()) return absl::StrCat(kSourceVolumePrefix, source.volume().volume_id());
  return "";
}

std::optional<::csi::v1::VolumeContentSource> ContentSourceOf(const repl::VolumeView& view) {
  auto it = view.attributes.find(kAttrContentSource);
  if (it == view.attributes.end()) return std::nullopt;
  ::csi::v1::VolumeContentSource source;
  const std::string& value = it->second;
  if (absl::StartsWith(value, kSourceSnapshotPrefix)) {
    source.mutable_snapshot()->set_snapshot_id(value.substr(sizeof(kSourceSnapshotPrefix) - 1));
  } else if (absl::StartsWith(value, kSourceVolumePrefix)) {
    source.mutable_volume()->set_volume_id(value.substr(sizeof(kSourceVolumePrefix) - 1));
  } else {
    return std::nullopt;
  }
  return source;
}

}  // namespace syncblock::csi
