#include "driver/ctl_csi_output.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "driver/flags.h"
#include "driver/output_table.h"
#include "google/protobuf/util/json_util.h"

namespace syncblock::driver {

namespace {

std::string Sorted(const google::protobuf::Map<std::string, std::string>& map,
                   const std::string& separator) {
  std::map<std::string, std::string> sorted(map.begin(), map.end());
  return absl::StrJoin(sorted, separator, absl::PairFormatter("="));
}

std::string TopologyText(const google::protobuf::RepeatedPtrField<::csi::v1::Topology>& topo) {
  std::vector<std::string> parts;
  for (const auto& t : topo) parts.push_back(Sorted(t.segments(), ","));
  return parts.empty() ? "-" : absl::StrJoin(parts, " | ");
}

std::string ConditionText(const ::csi::v1::VolumeCondition& c) {
  if (!c.abnormal()) return c.message().empty() ? "normal" : absl::StrCat("normal: ", c.message());
  return absl::StrCat("ABNORMAL: ", c.message());
}

std::string PluginCapText(const ::csi::v1::PluginCapability& cap) {
  if (cap.has_service()) {
    return ::csi::v1::PluginCapability::Service::Type_Name(cap.service().type());
  }
  if (cap.has_volume_expansion()) {
    return absl::StrCat(
        "VOLUME_EXPANSION_",
        ::csi::v1::PluginCapability::VolumeExpansion::Type_Name(cap.volume_expansion().type()));
  }
  return "UNKNOWN";
}

template <typename Caps, typename Fn>
std::string JoinCaps(const Caps& caps, Fn fn) {
  std::vector<std::string> names;
  for (const auto& c : caps) names.push_back(fn(c));
  return names.empty() ? "-" : absl::StrJoin(names, ", ");
}

}  // namespace

nlohmann::json CsiMessageToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string text;
  if (!google::protobuf::util::MessageToJsonString(message, &text, options).ok()) {
    return nlohmann::json::object();
  }
  // The printer's output is valid JSON, so parsing cannot fail.
  return nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
}

std::string RenderCsiInfo(const ::csi::v1::GetPluginInfoResponse& info,
                          const ::csi::v1::GetPluginCapabilitiesResponse& plugin_caps,
                          const ::csi::v1::ProbeResponse& probe,
                          const ::csi::v1::ControllerGetCapabilitiesResponse& controller_caps,
                          const ::csi::v1::NodeGetInfoResponse& node_info,
                          const ::csi::v1::NodeGetCapabilitiesResponse& node_caps,
                          const ::csi::v1::GroupControllerGetCapabilitiesResponse& group_caps) {
  std::string out;
  absl::StrAppend(&out, "driver:                  ", info.name(), " ", info.vendor_version(), "\n");
  absl::StrAppend(&out, "ready:                   ",
                  !probe.has_ready() ? "unknown" : (probe.ready().value() ? "yes" : "no"), "\n");
  absl::StrAppend(
      &out, "plugin capabilities:     ", JoinCaps(plugin_caps.capabilities(), PluginCapText), "\n");
  absl::StrAppend(
      &out, "controller capabilities: ",
      JoinCaps(controller_caps.capabilities(),
               [](const ::csi::v1::ControllerServiceCapability& c) {
                 return ::csi::v1::ControllerServiceCapability::RPC::Type_Name(c.rpc().type());
               }),
      "\n");
  if (group_caps.capabilities_size() > 0) {
    absl::StrAppend(&out, "group capabilities:      ",
                    JoinCaps(group_caps.capabilities(),
                             [](const ::csi::v1::GroupControllerServiceCapability& c) {
                               return ::csi::v1::GroupControllerServiceCapability::RPC::Type_Name(
                                   c.rpc().type());
                             }),
                    "\n");
  }
  absl::StrAppend(&out, "node id:                 ", node_info.node_id(), "\n");
  absl::StrAppend(&out, "node max volumes:        ",
                  node_info.max_volumes_per_node() == 0
                      ? std::string("unlimited")
                      : std::to_string(node_info.max_volumes_per_node()),
                  "\n");
  absl::StrAppend(&out, "node topology:           ",
                  node_info.has_accessible_topology()
                      ? Sorted(node_info.accessible_topology().segments(), ",")
                      : std::string("-"),
                  "\n");
  absl::StrAppend(
      &out, "node capabilities:       ",
      JoinCaps(node_caps.capabilities(),
               [](const ::csi::v1::NodeServiceCapability& c) {
                 return ::csi::v1::NodeServiceCapability::RPC::Type_Name(c.rpc().type());
               }),
      "\n");
  return out;
}

std::string RenderCsiVolume(const ::csi::v1::Volume& v) {
  std::string out;
  absl::StrAppend(&out, "id:        ", v.volume_id(), "\n");
  absl::StrAppend(&out, "capacity:  ", FormatSize(v.capacity_bytes()), " (", v.capacity_bytes(),
                  " bytes)\n");
  std::string context = Sorted(v.volume_context(), ",");
  absl::StrAppend(&out, "context:   ", context.empty() ? "-" : context, "\n");
  absl::StrAppend(&out, "topology:  ", TopologyText(v.accessible_topology()), "\n");
  return out;
}

std::string RenderCsiVolumeStatus(const ::csi::v1::ControllerGetVolumeResponse& resp) {
  std::string out = RenderCsiVolume(resp.volume());
  const auto& nodes = resp.status().published_node_ids();
  absl::StrAppend(&out, "published: ", nodes.empty() ? "-" : absl::StrJoin(nodes, ","), "\n");
  if (resp.status().has_volume_condition()) {
    absl::StrAppend(&out, "condition: ", ConditionText(resp.status().volume_condition()), "\n");
  }
  return out;
}

std::string RenderCsiVolumes(const std::vector<::csi::v1::ListVolumesResponse::Entry>& entries) {
  Table table({"ID", "CAPACITY", "PUBLISHED", "CONDITION", "CONTEXT"});
  for (const auto& e : entries) {
    const auto& nodes = e.status().published_node_ids();
    table.AddRow(
        {e.volume().volume_id(), FormatSize(e.volume().capacity_bytes()),
         nodes.empty() ? "-" : absl::StrJoin(nodes, ","),
         e.status().has_volume_condition() ? ConditionText(e.status().volume_condition()) : "-",
         Sorted(e.volume().volume_context(), ",")});
  }
  return table.Render();
}

std::string RenderStringMap(const google::protobuf::Map<std::string, std::string>& map) {
  std::string text = Sorted(map, "\n");
  return text.empty() ? "" : text + "\n";
}

std::string RenderCsiStats(const ::csi::v1::NodeGetVolumeStatsResponse& stats) {
  Table table({"UNIT", "TOTAL", "USED", "AVAILABLE"});
  for (const auto& u : stats.usage()) {
    bool bytes = u.unit() == ::csi::v1::VolumeUsage::BYTES;
    auto cell = [&](int64_t n) {
      return bytes && n >= 0 ? FormatSize(static_cast<uint64_t>(n)) : std::to_string(n);
    };
    table.AddRow({::csi::v1::VolumeUsage::Unit_Name(u.unit()), cell(u.total()), cell(u.used()),
                  cell(u.available())});
  }
  std::string out = table.Render();
  if (stats.has_volume_condition()) {
    absl::StrAppend(&out, "condition: ", ConditionText(stats.volume_condition()), "\n");
  }
  return out;
}

}  // namespace syncblock::driver
