// csi/proto/csi.proto against the CSI spec v1.12: the services and rpcs a
// v1.12 CO may call exist, and every field the spec marks secret carries the
// csi_secret option (the logging interceptor strips by it), walking the
// descriptor pool rather than trusting a list in the interceptor.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "csi/logging_interceptor.h"
#include "csi/proto/csi.pb.h"
#include "google/protobuf/descriptor.h"

namespace syncblock::csi {
namespace {

using google::protobuf::DescriptorPool;
using google::protobuf::FieldDescriptor;
using google::protobuf::FileDescriptor;

const FileDescriptor* CsiFile() { return ::csi::v1::Volume::descriptor()->file(); }

// Every message of the file, nested ones too.
void AllMessages(const google::protobuf::Descriptor* d,
                 std::vector<const google::protobuf::Descriptor*>* out) {
  out->push_back(d);
  for (int i = 0; i < d->nested_type_count(); ++i) AllMessages(d->nested_type(i), out);
}

TEST(CsiProtoSpecTest, EverySecretFieldOfTheSpecCarriesCsiSecret) {
  // spec v1.12: the fields marked [(csi_secret) = true], Message.field.
  const std::set<std::string> expected = {
      "CreateVolumeRequest.secrets",
      "DeleteVolumeRequest.secrets",
      "ControllerPublishVolumeRequest.secrets",
      "ControllerUnpublishVolumeRequest.secrets",
      "ValidateVolumeCapabilitiesRequest.secrets",
      "ControllerModifyVolumeRequest.secrets",
      "CreateSnapshotRequest.secrets",
      "DeleteSnapshotRequest.secrets",
      "ListSnapshotsRequest.secrets",
      "GetSnapshotRequest.secrets",
      "ControllerExpandVolumeRequest.secrets",
      "NodeStageVolumeRequest.secrets",
      "NodePublishVolumeRequest.secrets",
      "NodeExpandVolumeRequest.secrets",
      "CreateVolumeGroupSnapshotRequest.secrets",
      "DeleteVolumeGroupSnapshotRequest.secrets",
      "GetVolumeGroupSnapshotRequest.secrets",
      "GetMetadataAllocatedRequest.secrets",
      "GetMetadataDeltaRequest.secrets",
  };
  std::set<std::string> marked;
  std::vector<const google::protobuf::Descriptor*> messages;
  for (int i = 0; i < CsiFile()->message_type_count(); ++i) {
    AllMessages(CsiFile()->message_type(i), &messages);
  }
  for (const auto* m : messages) {
    for (int i = 0; i < m->field_count(); ++i) {
      const FieldDescriptor* f = m->field(i);
      if (f->options().GetExtension(::csi::v1::csi_secret)) {
        marked.insert(std::string(m->name()) + "." + std::string(f->name()));
      }
      // A field named like a secret and not marked would be logged.
      if (f->name() == "secrets") {
        EXPECT_TRUE(f->options().GetExtension(::csi::v1::csi_secret)) << f->full_name();
      }
    }
  }
  EXPECT_EQ(marked, expected);
}

TEST(CsiProtoSpecTest, TheServicesAndRpcsOfV112Exist) {
  const std::map<std::string, std::vector<std::string>> expected = {
      {"Identity", {"GetPluginInfo", "GetPluginCapabilities", "Probe"}},
      {"Controller",
       {"CreateVolume", "DeleteVolume", "ControllerPublishVolume", "ControllerUnpublishVolume",
        "ValidateVolumeCapabilities", "ListVolumes", "GetCapacity", "ControllerGetCapabilities",
        "CreateSnapshot", "DeleteSnapshot", "ListSnapshots", "GetSnapshot",
        "ControllerExpandVolume", "ControllerGetVolume", "ControllerModifyVolume"}},
      {"GroupController",
       {"GroupControllerGetCapabilities", "CreateVolumeGroupSnapshot", "DeleteVolumeGroupSnapshot",
        "GetVolumeGroupSnapshot"}},
      {"SnapshotMetadata", {"GetMetadataAllocated", "GetMetadataDelta"}},
      {"Node",
       {"NodeStageVolume", "NodeUnstageVolume", "NodePublishVolume", "NodeUnpublishVolume",
        "NodeGetVolumeStats", "NodeExpandVolume", "NodeGetCapabilities", "NodeGetInfo"}},
  };
  ASSERT_EQ(CsiFile()->service_count(), static_cast<int>(expected.size()));
  for (const auto& [service, rpcs] : expected) {
    const auto* s = DescriptorPool::generated_pool()->FindServiceByName("csi.v1." + service);
    ASSERT_NE(s, nullptr) << service;
    std::vector<std::string> have;
    for (int i = 0; i < s->method_count(); ++i) have.push_back(std::string(s->method(i)->name()));
    EXPECT_EQ(have, rpcs) << service;
  }
  // The alpha markers the spec puts on services and rpcs.
  const auto* pool = DescriptorPool::generated_pool();
  EXPECT_TRUE(pool->FindServiceByName("csi.v1.SnapshotMetadata")
                  ->options()
                  .GetExtension(::csi::v1::alpha_service));
  EXPECT_FALSE(pool->FindServiceByName("csi.v1.GroupController")
                   ->options()
                   .GetExtension(::csi::v1::alpha_service));
  for (const char* m : {"csi.v1.Controller.GetSnapshot", "csi.v1.Controller.ControllerGetVolume",
                        "csi.v1.Controller.ControllerModifyVolume"}) {
    EXPECT_TRUE(pool->FindMethodByName(m)->options().GetExtension(::csi::v1::alpha_method)) << m;
  }
}

TEST(CsiProtoSpecTest, NewFieldsAndValuesHaveTheSpecsNumbers) {
  EXPECT_EQ(::csi::v1::Snapshot::descriptor()->FindFieldByName("group_snapshot_id")->number(), 6);
  EXPECT_EQ(::csi::v1::ControllerServiceCapability::RPC::GET_SNAPSHOT, 15);
  EXPECT_EQ(::csi::v1::PluginCapability::Service::GROUP_CONTROLLER_SERVICE, 3);
  EXPECT_EQ(
      ::csi::v1::GroupControllerServiceCapability::RPC::CREATE_DELETE_GET_VOLUME_GROUP_SNAPSHOT, 1);
  const auto* g = ::csi::v1::VolumeGroupSnapshot::descriptor();
  EXPECT_EQ(g->FindFieldByName("group_snapshot_id")->number(), 1);
  EXPECT_EQ(g->FindFieldByName("snapshots")->number(), 2);
  EXPECT_EQ(g->FindFieldByName("creation_time")->number(), 3);
  EXPECT_EQ(g->FindFieldByName("ready_to_use")->number(), 4);
}

TEST(CsiProtoSpecTest, TheInterceptorStripsByTheOption) {
  ::csi::v1::CreateVolumeGroupSnapshotRequest req;
  req.set_name("group-1");
  (*req.mutable_secrets())["token"] = "s3cr3t";
  std::string line = StripSecretsForLog(req);
  EXPECT_EQ(line.find("s3cr3t"), std::string::npos) << line;
  EXPECT_NE(line.find("group-1"), std::string::npos) << line;
  EXPECT_NE(line.find("1 secrets stripped"), std::string::npos) << line;
}

}  // namespace
}  // namespace syncblock::csi
