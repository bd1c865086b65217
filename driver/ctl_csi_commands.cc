// `syncblock ctl csi ...`: one CSI call (or a few, for `info`) per command.
#include "driver/ctl_csi_commands.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <ostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "csi/csi_constants.h"
#include "driver/ctl_csi_client.h"
#include "driver/ctl_csi_output.h"
#include "driver/ctl_follow.h"
#include "driver/output_table.h"
#include "replication/util/status_macros.h"

namespace syncblock::driver {

namespace {

using ::csi::v1::VolumeCapability;
using StringMap = google::protobuf::Map<std::string, std::string>;

// Prints `message` as JSON, or `text` in the default output.
void Print(CtlContext& ctx, const google::protobuf::Message& message, const std::string& text) {
  ctx.Print(CsiMessageToJson(message), text);
}

absl::StatusOr<VolumeCapability::AccessMode::Mode> AccessModeFlag(const Flags& flags) {
  std::string access = flags.Get("access", "rwo");
  if (access == "rwo") return VolumeCapability::AccessMode::SINGLE_NODE_WRITER;
  if (access == "rwx") return VolumeCapability::AccessMode::MULTI_NODE_MULTI_WRITER;
  if (access == "rox") return VolumeCapability::AccessMode::MULTI_NODE_READER_ONLY;
  return UsageError(absl::StrCat("--access must be rwo, rwx or rox, not '", access, "'"));
}

// The capability of --block / --fs / --access / --mount-flags; a mount
// capability without --fs leaves fs_type empty (the volume's fsType applies).
absl::StatusOr<VolumeCapability> CapabilityFlags(const Flags& flags) {
  VolumeCapability cap;
  ASSIGN_OR_RETURN(auto mode, AccessModeFlag(flags));
  cap.mutable_access_mode()->set_mode(mode);
  if (flags.GetBool("block")) {
    if (flags.Has("fs")) return UsageError("--block and --fs exclude each other");
    cap.mutable_block();
    return cap;
  }
  std::string fs = flags.Get("fs");
  if (!fs.empty() && fs != "ext4" && fs != "xfs") {
    return UsageError(absl::StrCat("--fs must be ext4 or xfs, not '", fs, "'"));
  }
  cap.mutable_mount()->set_fs_type(fs);
  return cap;
}

// "k=v,k2=v2" into `out`. A piece without '=' continues the previous value,
// so that comma-separated values (storageNodes=a:1,b:2) survive.
absl::Status ParseKeyValues(const std::string& flag, const std::string& text, StringMap* out) {
  std::string last_key;
  for (absl::string_view piece : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    auto eq = piece.find('=');
    if (eq == absl::string_view::npos || eq == 0) {
      if (last_key.empty()) {
        return UsageError(absl::StrCat("--", flag, ": '", piece, "' is not key=value"));
      }
      absl::StrAppend(&(*out)[last_key], ",", piece);
      continue;
    }
    last_key = std::string(piece.substr(0, eq));
    (*out)[last_key] = std::string(piece.substr(eq + 1));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> RequiredFlag(const Flags& flags, const std::string& name) {
  std::string value = flags.Get(name);
  if (value.empty()) return UsageError(absl::StrCat("--", name, " is required"));
  return value;
}

absl::StatusOr<std::string> NodeIdOrOwn(CtlContext& ctx, CsiClient& client) {
  if (ctx.flags().Has("node")) return ctx.flags().Get("node");
  ::csi::v1::NodeGetInfoResponse info;
  RETURN_IF_ERROR(client.Call(client.node(), &::csi::v1::Node::Stub::NodeGetInfo,
                              ::csi::v1::NodeGetInfoRequest(), &info));
  return info.node_id();
}

absl::Status Info(CtlContext& ctx, const std::vector<std::string>&) {
  ASSIGN_OR_RETURN(auto client, CsiClient::Connect(ctx.flags()));
  using Identity = ::csi::v1::Identity::Stub;
  using Controller = ::csi::v1::Controller::Stub;
  using Node = ::csi::v1::Node::Stub;
  ::csi::v1::GetPluginInfoResponse info;
  ::csi::v1::GetPluginCapabilitiesResponse plugin_caps;
  ::csi::v1::ProbeResponse probe;
  ::csi::v1::ControllerGetCapabilitiesResponse controller_caps;
  ::csi::v1::NodeGetInfoResponse node_info;
  ::csi::v1::NodeGetCapabilitiesResponse node_caps;
  RETURN_IF_ERROR(client->Call(client->identity(), &Identity::GetPluginInfo, {}, &info));
  RETURN_IF_ERROR(
      client->Call(client->identity(), &Identity::GetPluginCapabilities, {}, &plugin_caps));
  RETURN_IF_ERROR(client->Call(client->identity(), &Identity::Probe, {}, &probe));
  RETURN_IF_ERROR(client->Call(client->controller(), &Controller::ControllerGetCapabilities, {},
                               &controller_caps));
  RETURN_IF_ERROR(client->Call(client->node(), &Node::NodeGetInfo, {}, &node_info));
  RETURN_IF_ERROR(client->Call(client->node(), &Node::NodeGetCapabilities, {}, &node_caps));
  ::csi::v1::GroupControllerGetCapabilitiesResponse group_caps;
  bool group = false;
  for (const auto& c : plugin_caps.capabilities()) {
    group = group ||
            c.service().type() == ::csi::v1::PluginCapability::Service::GROUP_CONTROLLER_SERVICE;
  }
  if (group) {
    RETURN_IF_ERROR(client->Call(client->group_controller(),
                                 &::csi::v1::GroupController::Stub::GroupControllerGetCapabilities,
                                 {}, &group_caps));
  }
  if (ctx.json()) {
    nlohmann::json j = {{"plugin_info", CsiMessageToJson(info)},
                        {"plugin_capabilities", CsiMessageToJson(plugin_caps)},
                        {"probe", CsiMessageToJson(probe)},
                        {"controller_capabilities", CsiMessageToJson(controller_caps)},
                        {"node_info", CsiMessageToJson(node_info)},
                        {"node_capabilities", CsiMessageToJson(node_caps)}};
    if (group) j["group_controller_capabilities"] = CsiMessageToJson(group_caps);
    ctx.out() << j.dump(2) << "\n";
  } else {
    ctx.out() << RenderCsiInfo(info, plugin_caps, probe, controller_caps, node_info, node_caps,
                               group_caps);
  }
  return absl::OkStatus();
}

// --key-file FILE: the file's bytes as the CSI secret encryptionPassphrase,
// as the external-provisioner and -attacher pass a StorageClass's Secret.
absl::Status SecretFlags(const Flags& flags, google::protobuf::Map<std::string, std::string>* out) {
  if (!flags.Has("key-file")) return absl::OkStatus();
  std::ifstream in(flags.Get("key-file"), std::ios::binary);
  if (!in) return UsageError(absl::StrCat("cannot read key file ", flags.Get("key-file")));
  std::string key((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  (*out)[csi::kSecretEncryptionPassphrase] = std::move(key);
  return absl::OkStatus();
}

absl::Status Create(CtlContext& ctx, const std::vector<std::string>& args) {
  const Flags& flags = ctx.flags();
  if (!flags.Has("size")) return UsageError("--size is required");
  ASSIGN_OR_RETURN(uint64_t size, flags.GetSize("size", 0));
  if (size == 0) return UsageError("--size must be positive");
  ::csi::v1::CreateVolumeRequest req;
  req.set_name(args[0]);
  req.mutable_capacity_range()->set_required_bytes(static_cast<int64_t>(size));
  ASSIGN_OR_RETURN(*req.add_volume_capabilities(), CapabilityFlags(flags));
  if (flags.Has("from-snapshot") && flags.Has("from-volume")) {
    return UsageError("--from-snapshot and --from-volume exclude each other");
  }
  if (flags.Has("from-snapshot")) {
    ASSIGN_OR_RETURN(
        *req.mutable_volume_content_source()->mutable_snapshot()->mutable_snapshot_id(),
        RequiredFlag(flags, "from-snapshot"));
  }
  if (flags.Has("from-volume")) {
    ASSIGN_OR_RETURN(*req.mutable_volume_content_source()->mutable_volume()->mutable_volume_id(),
                     RequiredFlag(flags, "from-volume"));
  }
  auto& params = *req.mutable_parameters();
  if (flags.Has("param")) RETURN_IF_ERROR(ParseKeyValues("param", flags.Get("param"), &params));
  if (flags.Has("replicas")) params[csi::kParamReplicas] = flags.Get("replicas");
  if (flags.Has("fs")) params[csi::kParamFsType] = flags.Get("fs");
  RETURN_IF_ERROR(SecretFlags(flags, req.mutable_secrets()));
  ASSIGN_OR_RETURN(auto client, CsiClient::Connect(flags));
  ::csi::v1::CreateVolumeResponse resp;
  RETURN_IF_ERROR(
      client->Call(client->controller(), &::csi::v1::Controller::Stub::CreateVolume, req, &resp));
  Print(ctx, resp, RenderCsiVolume(resp.volume()));
  return absl::OkStatus();
}

absl::Status Delete(CtlContext& ctx, const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(auto client, CsiClient::Connect(ctx.flags()));
  ::csi::v1::DeleteVolumeRequest req;
  req.set_volume_id(args[0]);
  ::csi::v1::DeleteVolumeResponse resp;
  RETURN_IF_ERROR(
      client->Call(client->controller(), &::csi::v1::Controller::Stub::DeleteVolume, req, &resp));
  Print(ctx, resp, absl::StrCat("deleted ", args[0], "\n"));
  return absl::OkStatus();
}

absl::Status List(CtlContext& ctx, const std::vector<std::string>&) {
  ASSIGN_OR_RETURN(auto client, CsiClient::Connect(ctx.flags()));
  ::csi::v1::ListVolumesResponse all;
  ::csi::v1::ListVolumesRequest req;
  // A plugin that hands back the token it was given would loop forever.
  constexpr int kMaxPages = 100000;
  for (int page = 0; page < kMaxPages; ++page) {
    ::csi::v1::ListVolumesResponse resp;
    RETURN_IF_ERROR(
        client->Call(client->controller(), &::csi::v1::Controller::Stub::ListVolumes, req, &resp));
    for (auto& e : *resp.mutable_entries()) *all.add_entries() = std::move(e);
    if (resp.next_token().empty()) break;
    if (resp.next_token() == req.starting_token()) {
      return absl::InternalError(absl::StrCat("INTERNAL: ListVolumes returned its starting token '",
                                              req.starting_token(), "' again"));
    }
    req.set_starting_token(resp.next_token());
  }
  std::vector<::csi::v1::ListVolumesResponse::Entry> entries(all.entries().begin(),
                                                             all.entries().end());
  Print(ctx, all, RenderCsiVolumes(entries));
  return absl::OkStatus();
}

absl::Status Get(CtlContext& ctx, const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(auto client, CsiClient::Connect(ctx.flags()));
  ::csi::v1::ControllerGetVolumeRequest req;
  req.set_volume_id(args[0]);
  ::csi::v1::ControllerGetVolumeResponse resp;
  RETURN_IF_ERROR(client->Call(client->controller(),
                               &::csi::v1::Controller::Stub::ControllerGetVolume, req, &resp));
  Print(ctx, resp, RenderCsiVolumeStatus(resp));
  return absl::OkStatus();
}

absl::StatusOr<::csi::v1::ControllerPublishVolumeResponse> ControllerPublish(
    CtlContext& ctx, CsiClient& client, const std::string& volume_id) {
  ::csi::v1::ControllerPublishVolumeRequest req;
  req.set_volume_id(volume_id);
  ASSIGN_OR_RETURN(*req.mutable_node_id(), NodeIdOrOwn(ctx, client));
  ASSIGN_OR_RETURN(*req.mutable_volume_capability(), CapabilityFlags(ctx.flags()));
  req.set_readonly(ctx.flags().GetBool("readonly"));
  RETURN_IF_ERROR(SecretFlags(ctx.flags(), req.mutable_secrets()));
  ::csi::v1::ControllerPublishVolumeResponse resp;
  RETURN_IF_ERROR(client.Call(client.controller(),
                              &::csi::v1::Controller::Stub::ControllerPublishVolume, req, &resp));
  return resp;
}

absl::Status Publish(CtlContext& ctx, const std::vector<std::string>& args) {
  // Flags first: a usage error should not need the plugin.
  RETURN_IF_ERROR(CapabilityFlags(ctx.flags()).status());
  ASSIGN_OR_RETURN(auto client, CsiClient::Connect(ctx.flags()));
  ASSIGN_OR_RETURN(auto resp, ControllerPublish(ctx, *client, args[0]));
  Print(ctx, resp, RenderStringMap(resp.publish_context()));
  return absl::OkStatus();
}

absl::Status Unpublish(CtlContext& ctx, const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(auto client, CsiClient::Connect(ctx.flags()));
  ::csi::v1::ControllerUnpublishVolumeRequest req;
  req.set_volume_id(args[0]);
  ASSIGN_OR_RETURN(*req.mutable_node_id(), NodeIdOrOwn(ctx, *client));
  ::csi::v1::ControllerUnpublishVolumeResponse resp;
  RETURN_IF_ERROR(client->Call(
      client->controller(), &::csi::v1::Controller::Stub::ControllerUnpublishVolume, req, &resp));
  Print(ctx, resp, absl::StrCat("unpublished ", args[0], " from ", req.node_id(), "\n"));
  return absl::OkStatus();
}

absl::Status Stage(CtlContext& ctx, const std::vector<std::string>& args) {
  const Flags& flags = ctx.flags();
  ::csi::v1::NodeStageVolumeRequest req;
  req.set_volume_id(args[0]);
  ASSIGN_OR_RETURN(*req.mutable_staging_target_path(), RequiredFlag(flags, "staging-path"));
  ASSIGN_OR_RETURN(*req.mutable_volume_capability(), CapabilityFlags(flags));
  bool auto_publish = flags.GetBool("auto-publish");
  if (auto_publish == flags.Has("publish-context")) {
    return UsageError("give --publish-context k=v,... (from `csi publish`) or --auto-publish");
  }
  if (!auto_publish) {
    RETURN_IF_ERROR(ParseKeyValues("publish-context", flags.Get("publish-context"),
                                   req.mutable_publish_context()));
  }
  // NodeStage's secrets (csi.storage.k8s.io/node-stage-secret-name): the
  // node keeps an encrypted volume's in memory to unlock it again later.
  RETURN_IF_ERROR(SecretFlags(flags, req.mutable_secrets()));
  ASSIGN_OR_RETURN(auto client, CsiClient::Connect(flags));
  if (auto_publish) {
    ASSIGN_OR_RETURN(auto published, ControllerPublish(ctx, *client, args[0]));
    *req.mutable_publish_context() = published.publish_context();
  }
  // The CO hands over the volume_context CreateVolume returned (the node
  // takes the filesystem from it): --volume-context, else the controller's,
  // when the endpoint serves one (a node-only plugin, as on a cluster's
  // nodes, does not: then the capability's filesystem is what counts).
  if (flags.Has("volume-context")) {
    RETURN_IF_ERROR(ParseKeyValues("volume-context", flags.Get("volume-context"),
                                   req.mutable_volume_context()));
  } else {
    ::csi::v1::ControllerGetVolumeRequest get;
    get.set_volume_id(args[0]);
    ::csi::v1::ControllerGetVolumeResponse volume;
    absl::Status got = client->Call(
        client->controller(), &::csi::v1::Controller::Stub::ControllerGetVolume, get, &volume);
    if (!got.ok() && got.code() != absl::StatusCode::kUnimplemented) return got;
    *req.mutable_volume_context() = volume.volume().volume_context();
  }
  // As a CO does, make the staging directory.
  std::error_code ec;
  std::filesystem::create_directories(req.staging_target_path(), ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot make ", req.staging_target_path(), ": ", ec.message()));
  }
  ::csi::v1::NodeStageVolumeResponse resp;
  RETURN_IF_ERROR(
      client->Call(client->node(), &::csi::v1::Node::Stub::NodeStageVolume, req, &resp));
  Print(ctx, resp, absl::StrCat("staged ", args[0], " at ", req.staging_target_path(), "\n"));
  return absl::OkStatus();
}

absl::Status Unstage(CtlContext& ctx, const std::vector<std::string>& args) {
  ::csi::v1::NodeUnstageVolumeRequest req;
  req.set_volume_id(args[0]);
  ASSIGN_OR_RETURN(*req.mutable_staging_target_path(), RequiredFlag(ctx.flags(), "staging-path"));
  ASSIGN_OR_RETURN(auto client, CsiClient::Connect(ctx.flags()));
  ::csi::v1::NodeUnstageVolumeResponse resp;
  RETURN_IF_ERROR(
      client->Call(client->node(), &::csi::v1::Node::Stub::NodeUnstageVolume, req, &resp));
  Print(ctx, resp, absl::StrCat("unstaged ", args[0], " from ", req.staging_target_path(), "\n"));
  return absl::OkStatus();
}

absl::Status Mount(CtlContext& ctx, const std::vector<std::string>& args) {
  const Flags& flags = ctx.flags();
  ::csi::v1::NodePublishVolumeRequest req;
  req.set_volume_id(args[0]);
  ASSIGN_OR_RETURN(*req.mutable_staging_target_path(), RequiredFlag(flags, "staging-path"));
  ASSIGN_OR_RETURN(*req.mutable_target_path(), RequiredFlag(flags, "target"));
  ASSIGN_OR_RETURN(*req.mutable_volume_capability(), CapabilityFlags(flags));
  req.set_readonly(flags.GetBool("readonly"));
  if (flags.Has("publish-context")) {
    RETURN_IF_ERROR(ParseKeyValues("publish-context", flags.Get("publish-context"),
                                   req.mutable_publish_context()));
  }
  // As a CO does, make the target's parent; the plugin makes the target.
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(req.target_path()).parent_path(), ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot make the parent of ", req.target_path(), ": ", ec.message()));
  }
  ASSIGN_OR_RETURN(auto client, CsiClient::Connect(flags));
  ::csi::v1::NodePublishVolumeResponse resp;
  RETURN_IF_ERROR(
      client->Call(client->node(), &::csi::v1::Node::Stub::NodePublishVolume, req, &resp));
  Print(ctx, resp, absl::StrCat("mounted ", args[0], " at ", req.target_path(), "\n"));
  return absl::OkStatus();
}

absl::Status Umount(CtlContext& ctx, const std::vector<std::string>& args) {
  ::csi::v1::NodeUnpublishVolumeRequest req;
  req.set_volume_id(args[0]);
  ASSIGN_OR_RETURN(*req.mutable_target_path(), RequiredFlag(ctx.flags(), "target"));
  ASSIGN_OR_RETURN(auto client, CsiClient::Connect(ctx.flags()));
  ::csi::v1::NodeUnpublishVolumeResponse resp;
  RETURN_IF_ERROR(
      client->Call(client->node(), &::csi::v1::Node::Stub::NodeUnpublishVolume, req, &resp));
  Print(ctx, resp, absl::StrCat("unmounted ", args[0], " from ", req.target_path(), "\n"));
  return absl::OkStatus();
}

absl::Status Stats(CtlContext& ctx, const std::vector<std::string>& args) {
  ::csi::v1::NodeGetVolumeStatsRequest req;
  req.set_volume_id(args[0]);
  ASSIGN_OR_RETURN(*req.mutable_volume_path(), RequiredFlag(ctx.flags(), "path"));
  if (ctx.flags().Has("staging-path")) {
    req.set_staging_target_path(ctx.flags().Get("staging-path"));
  }
  ASSIGN_OR_RETURN(auto client, CsiClient::Connect(ctx.flags()));
  ::csi::v1::NodeGetVolumeStatsResponse resp;
  RETURN_IF_ERROR(
      client->Call(client->node(), &::csi::v1::Node::Stub::NodeGetVolumeStats, req, &resp));
  Print(ctx, resp, RenderCsiStats(resp));
  return absl::OkStatus();
}

// ControllerExpandVolume, then, with --path, NodeExpandVolume on this node as
// a CO does when the controller asks for it.
absl::Status Expand(CtlContext& ctx, const std::vector<std::string>& args) {
  const Flags& flags = ctx.flags();
  if (!flags.Has("size")) return UsageError("--size is required");
  ASSIGN_OR_RETURN(uint64_t size, flags.GetSize("size", 0));
  if (size == 0) return UsageError("--size must be positive");
  ::csi::v1::ControllerExpandVolumeRequest req;
  req.set_volume_id(args[0]);
  req.mutable_capacity_range()->set_required_bytes(static_cast<int64_t>(size));
  const bool on_node = flags.Has("path");
  if (on_node) {
    ASSIGN_OR_RETURN(*req.mutable_volume_capability(), CapabilityFlags(flags));
  }
  ASSIGN_OR_RETURN(auto client, CsiClient::Connect(flags));
  ::csi::v1::ControllerExpandVolumeResponse resp;
  RETURN_IF_ERROR(client->Call(client->controller(),
                               &::csi::v1::Controller::Stub::ControllerExpandVolume, req, &resp));
  if (!on_node || !resp.node_expansion_required()) {
    Print(
        ctx, resp,
        absl::StrCat("expanded ", args[0], " to ", FormatSize(resp.capacity_bytes()),
                     resp.node_expansion_required() ? " (the node must expand it too: --path)" : "",
                     "\n"));
    return absl::OkStatus();
  }
  ::csi::v1::NodeExpandVolumeRequest node_req;
  node_req.set_volume_id(args[0]);
  node_req.set_volume_path(flags.Get("path"));
  node_req.set_staging_target_path(flags.Get("staging-path"));
  *node_req.mutable_capacity_range() = req.capacity_range();
  *node_req.mutable_volume_capability() = req.volume_capability();
  ::csi::v1::NodeExpandVolumeResponse node_resp;
  RETURN_IF_ERROR(FollowGrowth(ctx, node_req.volume_path(), static_cast<uint64_t>(size), [&] {
    return client->Call(client->node(), &::csi::v1::Node::Stub::NodeExpandVolume, node_req,
                        &node_resp);
  }));
  Print(ctx, node_resp,
        absl::StrCat("expanded ", args[0], " to ", FormatSize(resp.capacity_bytes()),
                     " and on the node at ", node_req.volume_path(), "\n"));
  return absl::OkStatus();
}

std::string SnapshotTime(const ::csi::v1::Snapshot& s) {
  if (!s.has_creation_time()) return "-";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(s.creation_time().seconds()),
                          absl::UTCTimeZone());
}

std::string RenderSnapshots(const std::vector<::csi::v1::Snapshot>& snapshots) {
  Table table({"ID", "SOURCE", "SIZE", "CREATED", "READY"});
  for (const auto& s : snapshots) {
    table.AddRow({s.snapshot_id(), s.source_volume_id(),
                  FormatSize(static_cast<uint64_t>(s.size_bytes())), SnapshotTime(s),
                  s.ready_to_use() ? "yes" : "no"});
  }
  return table.Render();
}

absl::Status SnapshotCreate(CtlContext& ctx, const std::vector<std::string>& args) {
  ::csi::v1::CreateSnapshotRequest req;
  req.set_name(args[0]);
  ASSIGN_OR_RETURN(*req.mutable_source_volume_id(), RequiredFlag(ctx.flags(), "volume"));
  ASSIGN_OR_RETURN(auto client, CsiClient::Connect(ctx.flags()));
  ::csi::v1::CreateSnapshotResponse resp;
  RETURN_IF_ERROR(
      client->Call(client->controller(), &::csi::v1::Controller::Stub::CreateSnapshot, req, &resp));
  Print(ctx, resp, RenderSnapshots({resp.snapshot()}));
  return absl::OkStatus();
}

absl::Status SnapshotDelete(CtlContext& ctx, const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(auto client, CsiClient::Connect(ctx.flags()));
  ::csi::v1::DeleteSnapshotRequest req;
  req.set_snapshot_id(args[0]);
  ::csi::v1::DeleteSnapshotResponse resp;
  RETURN_IF_ERROR(
      client->Call(client->controller(), &::csi::v1::Controller::Stub::DeleteSnapshot, req, &resp));
  Print(ctx, resp, absl::StrCat("deleted ", args[0], "\n"));
  return absl::OkStatus();
}

absl::Status SnapshotList(CtlContext& ctx, const std::vector<std::string>&) {
  ASSIGN_OR_RETURN(auto client, CsiClient::Connect(ctx.flags()));
  ::csi::v1::ListSnapshotsRequest req;
  req.set_source_volume_id(ctx.flags().Get("volume"));
  req.set_snapshot_id(ctx.flags().Get("snapshot"));
  ::csi::v1::ListSnapshotsResponse all;
  // A plugin that hands back the token it was given would loop forever.
  constexpr int kMaxPages = 100000;
  for (int page = 0; page < kMaxPages; ++page) {
    ::csi::v1::ListSnapshotsResponse resp;
    RETURN_IF_ERROR(client->Call(client->controller(), &::csi::v1::Controller::Stub::ListSnapshots,
                                 req, &resp));
    for (auto& e : *resp.mutable_entries()) *all.add_entries() = std::move(e);
    if (resp.next_token().empty()) break;
    if (resp.next_token() == req.starting_token()) {
      return absl::InternalError(
          absl::StrCat("INTERNAL: ListSnapshots returned its starting token '",
                       req.starting_token(), "' again"));
    }
    req.set_starting_token(resp.next_token());
  }
  std::vector<::csi::v1::Snapshot> snapshots;
  for (const auto& e : all.entries()) snapshots.push_back(e.snapshot());
  Print(ctx, all, RenderSnapshots(snapshots));
  return absl::OkStatus();
}

CtlCommand Csi(std::vector<std::string> path, std::string args, std::string summary, size_t n,
               CtlRun run) {
  path.insert(path.begin(), "csi");
  CtlCommand c =
      MakeCtlCommand(std::move(path), std::move(args), std::move(summary), n, n, std::move(run));
  c.Flag("endpoint", "URI", "the CSI plugin's socket, unix:///path.sock (else --cluster DIR's)");
  c.details += "  (CSI calls time out after --timeout-ms, here 120000 by default)\n";
  return c;
}

CtlCommand& CapabilityHelp(CtlCommand& c) {
  return c.Flag("block", "", "block access (else mount access)")
      .Flag("fs", "ext4|xfs", "the filesystem of mount access (default: the volume's fsType)")
      .Flag("access", "rwo|rwx|rox", "access mode (default rwo: SINGLE_NODE_WRITER)");
}

}  // namespace

std::vector<CtlCommand> CsiCtlCommands() {
  std::vector<CtlCommand> out;
  out.push_back(Csi({"info"}, "",
                    "the plugin's identity, capabilities, readiness and node information", 0,
                    Info));
  CtlCommand create = Csi({"create"}, "NAME", "CreateVolume: a volume named NAME", 1, Create);
  create.Flag("size", "SIZE", "required capacity (e.g. 64M, 1GiB); required")
      .Flag("replicas", "N", "replicas (StorageClass parameter replicas)")
      .Flag("param", "k=v,...", "more StorageClass parameters")
      .Flag("from-snapshot", "SNAPSHOT-ID", "a clone of this snapshot (VOLUME@NAME)")
      .Flag("from-volume", "VOLUME-ID", "a clone of this volume as it is now")
      .Flag("key-file", "FILE",
            "secret encryptionPassphrase from this file (parameter encrypted=true)");
  out.push_back(std::move(CapabilityHelp(create)));
  out.push_back(Csi({"delete"}, "VOLUME-ID", "DeleteVolume", 1, Delete));
  out.push_back(Csi({"list"}, "", "ListVolumes, every page", 0, List));
  out.push_back(
      Csi({"get"}, "VOLUME-ID", "ControllerGetVolume: the volume and its status", 1, Get));
  CtlCommand publish = Csi({"publish"}, "VOLUME-ID",
                           "ControllerPublishVolume; prints the publish_context", 1, Publish);
  publish.Flag("node", "NODE-ID", "the CSI node (default: the plugin's own, from NodeGetInfo)")
      .Flag("readonly", "", "publish read-only")
      .Flag("key-file", "FILE", "secret encryptionPassphrase from this file (unlocks)");
  out.push_back(std::move(CapabilityHelp(publish)));
  CtlCommand unpublish = Csi({"unpublish"}, "VOLUME-ID", "ControllerUnpublishVolume", 1, Unpublish);
  unpublish.Flag("node", "NODE-ID", "the CSI node (default: the plugin's own)");
  out.push_back(std::move(unpublish));
  CtlCommand stage = Csi({"stage"}, "VOLUME-ID", "NodeStageVolume", 1, Stage);
  stage.Flag("staging-path", "P", "the staging path; required")
      .Flag("publish-context", "k=v,...", "the context `csi publish` printed")
      .Flag("auto-publish", "", "run ControllerPublishVolume first and use its context")
      .Flag("node", "NODE-ID", "with --auto-publish: the CSI node (default: the plugin's own)")
      .Flag("readonly", "", "with --auto-publish: publish read-only")
      .Flag("volume-context", "k=v,...",
            "CreateVolume's volume_context (default: the controller's)")
      .Flag("key-file", "FILE",
            "secret encryptionPassphrase from this file (kept by the node to unlock the "
            "volume again; with --auto-publish, the publish's too)");
  out.push_back(std::move(CapabilityHelp(stage)));
  CtlCommand mount = Csi({"mount"}, "VOLUME-ID", "NodePublishVolume", 1, Mount);
  mount.Flag("staging-path", "P", "where the volume is staged; required")
      .Flag("target", "T", "the target path (a file for --block); required")
      .Flag("readonly", "", "mount read-only")
      .Flag("publish-context", "k=v,...", "the context `csi publish` printed");
  out.push_back(std::move(CapabilityHelp(mount)));
  CtlCommand umount = Csi({"umount"}, "VOLUME-ID", "NodeUnpublishVolume", 1, Umount);
  umount.Flag("target", "T", "the target path; required");
  out.push_back(std::move(umount));
  CtlCommand unstage = Csi({"unstage"}, "VOLUME-ID", "NodeUnstageVolume", 1, Unstage);
  unstage.Flag("staging-path", "P", "the staging path; required");
  out.push_back(std::move(unstage));
  CtlCommand stats = Csi({"stats"}, "VOLUME-ID", "NodeGetVolumeStats", 1, Stats);
  stats.Flag("path", "P", "a path the volume is published at; required")
      .Flag("staging-path", "P", "where it is staged");
  out.push_back(std::move(stats));
  CtlCommand expand = Csi({"expand"}, "VOLUME-ID",
                          "ControllerExpandVolume, and NodeExpandVolume with --path", 1, Expand);
  expand.Flag("size", "SIZE", "the new capacity (e.g. 2GiB); required")
      .Flag("path", "P", "also NodeExpandVolume here: where the volume is staged or published")
      .Flag("staging-path", "P", "with --path: where it is staged");
  out.push_back(std::move(CapabilityHelp(expand)));
  CtlCommand snap_create =
      Csi({"snapshot", "create"}, "NAME", "CreateSnapshot: a snapshot named NAME of --volume", 1,
          SnapshotCreate);
  snap_create.Flag("volume", "VOLUME-ID", "the source volume; required");
  out.push_back(std::move(snap_create));
  out.push_back(Csi({"snapshot", "delete"}, "SNAPSHOT-ID", "DeleteSnapshot", 1, SnapshotDelete));
  CtlCommand snap_list =
      Csi({"snapshot", "list"}, "", "ListSnapshots, every page", 0, SnapshotList);
  snap_list.Flag("volume", "VOLUME-ID", "only this volume's snapshots")
      .Flag("snapshot", "SNAPSHOT-ID", "only this snapshot");
  out.push_back(std::move(snap_list));
  return out;
}

}  // namespace syncblock::driver
