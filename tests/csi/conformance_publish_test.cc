// CSI conformance: ControllerPublishVolume and ControllerUnpublishVolume,
// for mount and block access.
#include "replication/client/storage_cluster.h"
#include "replication/security/grpc_credentials.h"
#include "replication/types/remote_sync_policy.h"
#include "tests/csi/conformance_fixture.h"

namespace syncblock::csi::conformance {
namespace {

class CsiPublishTest : public CsiAccessTypeTest {
 protected:
  // The storage cluster's client API, as an admin: for what only the
  // storage side sets (a remote sync target's marks).
  static std::shared_ptr<repl::StorageCluster> Storage() {
    std::vector<std::string> controls;
    for (const auto& n : *nodes_) controls.push_back(n.control);
    return repl::StorageCluster::Connect(controls, std::chrono::seconds(10),
                                         std::chrono::seconds(1),
                                         syncblock::security::GrpcChannelCredentials(pki_->Issue(
                                             "admin", syncblock::security::kRoleAdmin)));
  }
};

// The target of a remote sync takes only that sync's writes: publishing it
// is FAILED_PRECONDITION, naming its source and how to make it writable,
// until the marks are gone (`ctl volume promote-remote` removes them).
TEST_P(CsiPublishTest, ARemoteSyncTargetIsNotPublished) {
  Volume v = MustCreate(CreateReq(Name("pvc-pub-target"), Cap(Mode::SINGLE_NODE_WRITER)));
  const std::string id = v.volume_id();
  auto storage = Storage();
  auto marked = storage->SetAttributes(
      id, {{repl::kAttrRemoteSourceId, "0123456789abcdef"}, {repl::kAttrRemoteSourceVolume, "src"}},
      {});
  ASSERT_TRUE(marked.ok()) << marked.status();
  ControllerPublishVolumeResponse pub;
  grpc::Status s = Call(&Controller::Stub::ControllerPublishVolume,
                        PublishReq(id, "node-1", Cap(Mode::SINGLE_NODE_WRITER)), &pub);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), repl::kAttrRemoteSourceVolume))
      << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "src")) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "ctl volume promote-remote"))
      << s.error_message();
  EXPECT_TRUE(PublishedNodes(id).empty());

  auto unmarked =
      storage->SetAttributes(id, {}, {repl::kAttrRemoteSourceId, repl::kAttrRemoteSourceVolume});
  ASSERT_TRUE(unmarked.ok()) << unmarked.status();
  EXPECT_EQ(Code(&Controller::Stub::ControllerPublishVolume,
                 PublishReq(id, "node-1", Cap(Mode::SINGLE_NODE_WRITER))),
            grpc::StatusCode::OK);
  EXPECT_EQ(Unpublish(id, "node-1"), grpc::StatusCode::OK);
  MustDelete(id);
}

// PUBLISH_READONLY: a read-only publication of a writable volume is recorded
// and handed to the node as such, and a writable one on the same node is
// then incompatible (ALREADY_EXISTS), and the other way round.
TEST_P(CsiPublishTest, ReadonlyPublicationsOfAWritableVolume) {
  Volume v = MustCreate(CreateReq(Name("pvc-pub-ro"), Cap(Mode::SINGLE_NODE_WRITER)));
  auto cap = Cap(Mode::SINGLE_NODE_WRITER);
  ControllerPublishVolumeResponse pub;
  ASSERT_TRUE(Call(&Controller::Stub::ControllerPublishVolume,
                   PublishReq(v.volume_id(), "node-1", cap, true), &pub)
                  .ok());
  EXPECT_EQ(Get(pub.publish_context(), "readonly"), "true");
  ControllerPublishVolumeResponse again;
  ASSERT_TRUE(Call(&Controller::Stub::ControllerPublishVolume,
                   PublishReq(v.volume_id(), "node-1", cap, true), &again)
                  .ok());
  EXPECT_EQ(Get(again.publish_context(), "readonly"), "true");
  EXPECT_EQ(Code(&Controller::Stub::ControllerPublishVolume,
                 PublishReq(v.volume_id(), "node-1", cap, false)),
            grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(Unpublish(v.volume_id(), "node-1"), grpc::StatusCode::OK);
  ASSERT_EQ(Code(&Controller::Stub::ControllerPublishVolume,
                 PublishReq(v.volume_id(), "node-1", cap, false)),
            grpc::StatusCode::OK);
  EXPECT_EQ(Code(&Controller::Stub::ControllerPublishVolume,
                 PublishReq(v.volume_id(), "node-1", cap, true)),
            grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(Unpublish(v.volume_id(), "node-1"), grpc::StatusCode::OK);
  MustDelete(v.volume_id());
}

TEST_P(CsiPublishTest, PublishRules) {
  Volume v = MustCreate(CreateReq(Name("pvc-pub"), Cap(Mode::SINGLE_NODE_WRITER)));
  const std::string id = v.volume_id();
  auto cap = Cap(Mode::SINGLE_NODE_WRITER);

  {
    auto r = PublishReq("", "node-1", cap);
    EXPECT_EQ(Code(&Controller::Stub::ControllerPublishVolume, r),
              grpc::StatusCode::INVALID_ARGUMENT);
    r = PublishReq(id, "", cap);
    EXPECT_EQ(Code(&Controller::Stub::ControllerPublishVolume, r),
              grpc::StatusCode::INVALID_ARGUMENT);
    r = PublishReq(id, "node-1", cap);
    r.clear_volume_capability();
    EXPECT_EQ(Code(&Controller::Stub::ControllerPublishVolume, r),
              grpc::StatusCode::INVALID_ARGUMENT);
    r = PublishReq("pvc-does-not-exist", "node-1", cap);
    EXPECT_EQ(Code(&Controller::Stub::ControllerPublishVolume, r), grpc::StatusCode::NOT_FOUND);
    // A node that is not a node of the cluster: NOT_FOUND, and nothing is
    // recorded for it.
    r = PublishReq(id, "node-that-does-not-exist", cap);
    EXPECT_EQ(Code(&Controller::Stub::ControllerPublishVolume, r), grpc::StatusCode::NOT_FOUND);
    EXPECT_TRUE(PublishedNodes(id).empty());
  }

  ControllerPublishVolumeResponse pub;
  grpc::Status s =
      Call(&Controller::Stub::ControllerPublishVolume, PublishReq(id, "node-1", cap), &pub);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const auto& ctx = pub.publish_context();
  EXPECT_EQ(Get(ctx, "exportName"), id);
  EXPECT_TRUE(absl::StartsWith(Get(ctx, "nbdUri"), "nbds://")) << Get(ctx, "nbdUri");
  EXPECT_TRUE(absl::EndsWith(Get(ctx, "nbdUri"), "/" + id)) << Get(ctx, "nbdUri");
  std::vector<std::string> storage = absl::StrSplit(Get(ctx, "storageNodes"), ',');
  EXPECT_EQ(storage.size(), 3u);
  for (const auto& n : *nodes_) {
    EXPECT_NE(std::find(storage.begin(), storage.end(), n.control), storage.end()) << n.control;
  }
  EXPECT_EQ(Get(ctx, "readonly"), "false");

  // Publishing again the same way is idempotent.
  ControllerPublishVolumeResponse pub2;
  ASSERT_TRUE(
      Call(&Controller::Stub::ControllerPublishVolume, PublishReq(id, "node-1", cap), &pub2).ok());
  EXPECT_EQ(Get(pub2.publish_context(), "exportName"), id);
  // Same node, other readonly flag or capability: incompatible.
  EXPECT_EQ(Code(&Controller::Stub::ControllerPublishVolume, PublishReq(id, "node-1", cap, true)),
            grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(Code(&Controller::Stub::ControllerPublishVolume,
                 PublishReq(id, "node-1", Cap(Mode::SINGLE_NODE_READER_ONLY))),
            grpc::StatusCode::ALREADY_EXISTS);
  // A single-node volume on a second node.
  EXPECT_EQ(Code(&Controller::Stub::ControllerPublishVolume, PublishReq(id, "node-2", cap)),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(PublishedNodes(id), std::vector<std::string>{"node-1"});

  // Published volumes are not deleted.
  DeleteVolumeRequest del;
  del.set_volume_id(id);
  EXPECT_EQ(Code(&Controller::Stub::DeleteVolume, del), grpc::StatusCode::FAILED_PRECONDITION);

  EXPECT_EQ(Unpublish("", "node-1"), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Unpublish(id, "node-1"), grpc::StatusCode::OK);
  EXPECT_EQ(Unpublish(id, "node-1"), grpc::StatusCode::OK);
  EXPECT_EQ(Unpublish("pvc-does-not-exist", "node-1"), grpc::StatusCode::OK);
  EXPECT_TRUE(PublishedNodes(id).empty());

  // Now the second node may have it.
  ASSERT_EQ(Code(&Controller::Stub::ControllerPublishVolume, PublishReq(id, "node-2", cap)),
            grpc::StatusCode::OK);
  EXPECT_EQ(Unpublish(id, ""), grpc::StatusCode::OK);  // empty node: every node
  EXPECT_TRUE(PublishedNodes(id).empty());
  MustDelete(id);
}

TEST_P(CsiPublishTest, ReadonlyIsHonouredAndRecorded) {
  Volume v = MustCreate(CreateReq(Name("pvc-ro"), Cap(Mode::MULTI_NODE_READER_ONLY)));
  auto cap = Cap(Mode::MULTI_NODE_READER_ONLY);
  for (const char* node : {"node-1", "node-2"}) {
    ControllerPublishVolumeResponse pub;
    ASSERT_TRUE(Call(&Controller::Stub::ControllerPublishVolume,
                     PublishReq(v.volume_id(), node, cap, true), &pub)
                    .ok());
    EXPECT_EQ(Get(pub.publish_context(), "readonly"), "true");
  }
  EXPECT_EQ(PublishedNodes(v.volume_id()), (std::vector<std::string>{"node-1", "node-2"}));
  EXPECT_EQ(Unpublish(v.volume_id(), ""), grpc::StatusCode::OK);
  MustDelete(v.volume_id());
}

TEST_P(CsiPublishTest, MultiNodeMultiWriterIsForBlockOnly) {
  auto cap = Cap(Mode::MULTI_NODE_MULTI_WRITER);
  if (!block()) {
    Volume v = MustCreate(CreateReq(Name("pvc-mnmw"), Cap(Mode::SINGLE_NODE_WRITER)));
    EXPECT_EQ(
        Code(&Controller::Stub::ControllerPublishVolume, PublishReq(v.volume_id(), "node-1", cap)),
        grpc::StatusCode::INVALID_ARGUMENT);
    MustDelete(v.volume_id());
    return;
  }
  Volume v = MustCreate(CreateReq(Name("pvc-mnmw"), cap));
  for (const char* node : {"node-1", "node-2", "node-3"}) {
    EXPECT_EQ(
        Code(&Controller::Stub::ControllerPublishVolume, PublishReq(v.volume_id(), node, cap)),
        grpc::StatusCode::OK)
        << node;
  }
  EXPECT_EQ(PublishedNodes(v.volume_id()),
            (std::vector<std::string>{"node-1", "node-2", "node-3"}));
  // A single-node publication cannot join them.
  EXPECT_EQ(Code(&Controller::Stub::ControllerPublishVolume,
                 PublishReq(v.volume_id(), "node-4", Cap(Mode::SINGLE_NODE_WRITER))),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Unpublish(v.volume_id(), ""), grpc::StatusCode::OK);
  MustDelete(v.volume_id());
}

INSTANTIATE_TEST_SUITE_P(AccessTypes, CsiPublishTest, ::testing::Values(false, true),
                         AccessTypeName);

}  // namespace
}  // namespace syncblock::csi::conformance
