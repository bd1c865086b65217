// How a storage-cluster VolumeView reads as CSI: the Volume message (size, ID,
// volume_context, accessible topology and a clone's content source from the
// attributes the controller stored at creation) and the VolumeCondition (abnormal while a replica is not
// in sync, naming it).
//
// Thread-safe: pure functions.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "csi/proto/csi.pb.h"
#include "replication/client/storage_cluster.h"

namespace syncblock::csi {

// The parameters stored under csi.param.* (names without the prefix).
std::map<std::string, std::string> StoredParameters(const repl::VolumeView& view);

::csi::v1::Volume VolumeFromView(const repl::VolumeView& view);

::csi::v1::VolumeCondition ConditionOf(const repl::VolumeView& view);

// The CSI node ids the volume is controller-published to, sorted.
std::vector<std::string> PublishedNodeIds(const repl::VolumeView& view);

}  // namespace syncblock::csi
