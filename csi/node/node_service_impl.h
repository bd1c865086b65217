// The Node service's implementation class, split over node_service.cc
// (construction, re-adoption, health loop), node_stage.cc (stage/unstage),
// node_publish.cc (publish/unpublish) and node_info.cc (info, capabilities,
// stats), node_expand.cc (expand). Internal to csi/node: callers use MakeNodeService.
//
// Thread-safe: records_ is guarded by mu_; per-volume work holds the
// volume's in-flight guard, so two calls never change one volume at once.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "csi/inflight.h"
#include "csi/node/attacher.h"
#include "csi/node/attachment_store.h"
#include "csi/node/mounter.h"
#include "csi/node/node_service.h"
#include "csi/node/stage_secrets.h"
#include "replication/initiator/primary_resolver.h"

namespace syncblock::csi {

class NodeServiceImpl : public ::csi::v1::Node::Service {
 public:
  explicit NodeServiceImpl(const NodeServiceOptions& options);
  ~NodeServiceImpl() override;

  // Loads the records and re-adopts each attachment; starts the health loop.
  absl::Status Start();

  grpc::Status NodeStageVolume(grpc::ServerContext*, const ::csi::v1::NodeStageVolumeRequest*,
                               ::csi::v1::NodeStageVolumeResponse*) override;
  grpc::Status NodeUnstageVolume(grpc::ServerContext*, const ::csi::v1::NodeUnstageVolumeRequest*,
                                 ::csi::v1::NodeUnstageVolumeResponse*) override;
  grpc::Status NodePublishVolume(grpc::ServerContext*, const ::csi::v1::NodePublishVolumeRequest*,
                                 ::csi::v1::NodePublishVolumeResponse*) override;
  grpc::Status NodeUnpublishVolume(grpc::ServerContext*,
                                   const ::csi::v1::NodeUnpublishVolumeRequest*,
                                   ::csi::v1::NodeUnpublishVolumeResponse*) override;
  grpc::Status NodeGetVolumeStats(grpc::ServerContext*, const ::csi::v1::NodeGetVolumeStatsRequest*,
                                  ::csi::v1::NodeGetVolumeStatsResponse*) override;
  grpc::Status NodeGetCapabilities(grpc::ServerContext*,
                                   const ::csi::v1::NodeGetCapabilitiesRequest*,
                                   ::csi::v1::NodeGetCapabilitiesResponse*) override;
  grpc::Status NodeGetInfo(grpc::ServerContext*, const ::csi::v1::NodeGetInfoRequest*,
                           ::csi::v1::NodeGetInfoResponse*) override;
  grpc::Status NodeExpandVolume(grpc::ServerContext*, const ::csi::v1::NodeExpandVolumeRequest*,
                                ::csi::v1::NodeExpandVolumeResponse*) override;

 private:
  absl::Status Stage(const ::csi::v1::NodeStageVolumeRequest& req);
  absl::Status Unstage(const ::csi::v1::NodeUnstageVolumeRequest& req);
  absl::Status Publish(const ::csi::v1::NodePublishVolumeRequest& req);
  absl::Status Unpublish(const ::csi::v1::NodeUnpublishVolumeRequest& req);
  absl::Status Stats(const ::csi::v1::NodeGetVolumeStatsRequest& req,
                     ::csi::v1::NodeGetVolumeStatsResponse* resp);
  absl::Status Expand(const ::csi::v1::NodeExpandVolumeRequest& req,
                      ::csi::v1::NodeExpandVolumeResponse* resp);

  // Mounts the attached device at the staging path (mkfs when blank).
  absl::Status MountStaging(const Attachment& a);
  // Checks one attachment and reconnects it when dead, redoing the mounts
  // that sat on a device that changed. Caller holds the volume's guard.
  absl::Status Heal(Attachment a);
  void HealthLoop();
  // `hints` (the publish context's storage nodes, or a record's) and the
  // configured control addresses, without duplicates.
  std::vector<std::string> ControlAddresses(const std::vector<std::string>& hints) const;
  // The volume's primary (resolver_), and when it refuses this node because
  // the volume is locked: unlocks it with the NodeStage secret, if this node
  // was given one, and asks again.
  absl::StatusOr<std::string> ResolvePrimary(const std::string& volume_id,
                                             const std::string& hint_uri,
                                             const std::vector<std::string>& hints);

  // Records: the in-memory copy of the state directory.
  std::optional<Attachment> Find(const std::string& volume_id);
  // The record of a volume staged or published at `path` (a path the CO
  // passes back), NOT_FOUND when it is not.
  absl::StatusOr<Attachment> FindAt(const std::string& volume_id, const std::string& path);
  absl::Status Record(const Attachment& a);
  absl::Status Forget(const std::string& volume_id);
  size_t RecordCount();

  const NodeServiceOptions options_;
  std::shared_ptr<Mounter> mounter_;
  std::shared_ptr<Attacher> attacher_;
  std::shared_ptr<repl::initiator::PrimaryResolver> resolver_;
  AttachmentStore store_;
  InFlight inflight_;
  StageSecrets stage_secrets_;

  absl::Mutex mu_;
  std::map<std::string, Attachment> records_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread health_thread_;
};

}  // namespace syncblock::csi
