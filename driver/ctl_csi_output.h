// What `syncblock ctl csi ...` prints. With `-o json` each command prints its
// CSI response in protobuf's JSON mapping with the proto field names
// (`info` prints {"plugin_info","plugin_capabilities","probe",
// "controller_capabilities","node_info","node_capabilities"}, `list` prints
// {"entries": [...]} over all pages); otherwise the renderings below.
//
// Thread-safe: pure functions.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "csi/proto/csi.pb.h"
#include "google/protobuf/map.h"
#include "google/protobuf/message.h"

namespace syncblock::driver {

// Every field printed, zero values included.
nlohmann::json CsiMessageToJson(const google::protobuf::Message& message);

std::string RenderCsiInfo(const ::csi::v1::GetPluginInfoResponse& info,
                          const ::csi::v1::GetPluginCapabilitiesResponse& plugin_caps,
                          const ::csi::v1::ProbeResponse& probe,
                          const ::csi::v1::ControllerGetCapabilitiesResponse& controller_caps,
                          const ::csi::v1::NodeGetInfoResponse& node_info,
                          const ::csi::v1::NodeGetCapabilitiesResponse& node_caps,
                          // Printed when the plugin has a GroupController.
                          const ::csi::v1::GroupControllerGetCapabilitiesResponse& group_caps = {});
// "id:", "capacity:", "context:", "topology:" lines.
std::string RenderCsiVolume(const ::csi::v1::Volume& volume);
std::string RenderCsiVolumeStatus(const ::csi::v1::ControllerGetVolumeResponse& resp);
std::string RenderCsiVolumes(const std::vector<::csi::v1::ListVolumesResponse::Entry>& entries);
// One `key=value` line per entry, sorted by key.
std::string RenderStringMap(const google::protobuf::Map<std::string, std::string>& map);
std::string RenderCsiStats(const ::csi::v1::NodeGetVolumeStatsResponse& stats);

}  // namespace syncblock::driver
