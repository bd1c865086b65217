// CSI conformance: snapshots, clones and expansion (issue 4). The data is
// checked too: a pattern written with qemu-io to the source's NBD export is
// read back from the clones.
#include "tests/csi/conformance_fixture.h"

namespace syncblock::csi::conformance {
namespace {

TEST_F(CsiSnapshotTest, SnapshotRpcsRejectInvalidRequests) {
  CreateSnapshotRequest no_name;
  no_name.set_source_volume_id("pvc-snap-invalid");
  EXPECT_EQ(Code(&Controller::Stub::CreateSnapshot, no_name), grpc::StatusCode::INVALID_ARGUMENT);
  CreateSnapshotRequest no_source;
  no_source.set_name("snapshot-invalid");
  EXPECT_EQ(Code(&Controller::Stub::CreateSnapshot, no_source), grpc::StatusCode::INVALID_ARGUMENT);
  CreateSnapshotRequest unknown = no_source;
  unknown.set_source_volume_id("pvc-does-not-exist");
  EXPECT_EQ(Code(&Controller::Stub::CreateSnapshot, unknown), grpc::StatusCode::NOT_FOUND);

  EXPECT_EQ(DeleteSnapshotCode(""), grpc::StatusCode::INVALID_ARGUMENT);
  // Unknown and malformed ids name no snapshot: deleting them is OK.
  EXPECT_EQ(DeleteSnapshotCode("pvc-does-not-exist@snapshot-x"), grpc::StatusCode::OK);
  EXPECT_EQ(DeleteSnapshotCode("not-a-snapshot-id"), grpc::StatusCode::OK);

  ListSnapshotsRequest bad_token;
  bad_token.set_starting_token("invalid-token");
  EXPECT_EQ(Code(&Controller::Stub::ListSnapshots, bad_token), grpc::StatusCode::ABORTED);
  ListSnapshotsRequest negative;
  negative.set_max_entries(-1);
  EXPECT_EQ(Code(&Controller::Stub::ListSnapshots, negative), grpc::StatusCode::INVALID_ARGUMENT);
  ListSnapshotsRequest by_unknown_id;
  by_unknown_id.set_snapshot_id("pvc-does-not-exist@snapshot-x");
  EXPECT_TRUE(ListedIds(by_unknown_id).empty());
  ListSnapshotsRequest by_malformed_id;
  by_malformed_id.set_snapshot_id("not-a-snapshot-id");
  EXPECT_TRUE(ListedIds(by_malformed_id).empty());
  ListSnapshotsRequest by_unknown_source;
  by_unknown_source.set_source_volume_id("pvc-does-not-exist");
  EXPECT_TRUE(ListedIds(by_unknown_source).empty());
}

TEST_F(CsiSnapshotTest, SnapshotsAreIdempotentByNameAndListed) {
  auto req_a = CreateReq("pvc-snap-a", BlockCap(Mode::SINGLE_NODE_WRITER));
  Volume a = MustCreate(req_a);
  Volume b = MustCreate(CreateReq("pvc-snap-b", BlockCap(Mode::SINGLE_NODE_WRITER)));

  auto first = MustSnapshot("snapshot-one", a.volume_id());
  const Snapshot& snap = first.snapshot();
  EXPECT_EQ(snap.snapshot_id(), a.volume_id() + "@snapshot-one");
  EXPECT_EQ(snap.source_volume_id(), a.volume_id());
  EXPECT_EQ(snap.size_bytes(), a.capacity_bytes());
  EXPECT_TRUE(snap.has_creation_time());
  EXPECT_GT(snap.creation_time().seconds(), 0);
  EXPECT_TRUE(snap.ready_to_use());

  // The same name for the same source: the same snapshot.
  auto again = MustSnapshot("snapshot-one", a.volume_id());
  EXPECT_EQ(again.snapshot().snapshot_id(), snap.snapshot_id());
  EXPECT_EQ(again.snapshot().creation_time().seconds(), snap.creation_time().seconds());
  // The same name for another source.
  CreateSnapshotRequest taken;
  taken.set_name("snapshot-one");
  taken.set_source_volume_id(b.volume_id());
  EXPECT_EQ(Code(&Controller::Stub::CreateSnapshot, taken), grpc::StatusCode::ALREADY_EXISTS);
  // A CSI name that is not a good snapshot name is mapped, deterministically.
  auto odd = MustSnapshot("Nightly Backup #1", a.volume_id());
  EXPECT_TRUE(absl::StartsWith(odd.snapshot().snapshot_id(), a.volume_id() + "@sb-"))
      << odd.snapshot().snapshot_id();
  EXPECT_EQ(MustSnapshot("Nightly Backup #1", a.volume_id()).snapshot().snapshot_id(),
            odd.snapshot().snapshot_id());
  auto third = MustSnapshot("snapshot-three", a.volume_id());
  auto of_b = MustSnapshot("snapshot-of-b", b.volume_id());

  ListSnapshotsRequest by_id;
  by_id.set_snapshot_id(snap.snapshot_id());
  EXPECT_EQ(ListedIds(by_id), std::vector<std::string>{snap.snapshot_id()});
  ListSnapshotsRequest by_id_other_source = by_id;
  by_id_other_source.set_source_volume_id(b.volume_id());
  EXPECT_TRUE(ListedIds(by_id_other_source).empty());
  ListSnapshotsRequest by_source;
  by_source.set_source_volume_id(a.volume_id());
  std::vector<std::string> expected = {snap.snapshot_id(), odd.snapshot().snapshot_id(),
                                       third.snapshot().snapshot_id()};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(ListedIds(by_source), expected);

  // Every snapshot, a page at a time.
  std::set<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    ListSnapshotsRequest req;
    req.set_max_entries(1);
    req.set_starting_token(token);
    ListSnapshotsResponse resp;
    grpc::Status s = Call(&Controller::Stub::ListSnapshots, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_LE(resp.entries_size(), 1);
    for (const auto& e : resp.entries()) {
      EXPECT_TRUE(seen.insert(e.snapshot().snapshot_id()).second) << "listed twice";
    }
    token = resp.next_token();
  } while (!token.empty() && ++pages < 100);
  for (const auto& id : expected) EXPECT_TRUE(seen.count(id)) << id;
  EXPECT_TRUE(seen.count(of_b.snapshot().snapshot_id()));

  // A volume with snapshots is not deleted: they live in its replicas.
  DeleteVolumeRequest del;
  del.set_volume_id(a.volume_id());
  EXPECT_EQ(Code(&Controller::Stub::DeleteVolume, del), grpc::StatusCode::FAILED_PRECONDITION);

  for (const auto& id : expected) {
    EXPECT_EQ(DeleteSnapshotCode(id), grpc::StatusCode::OK);
    EXPECT_EQ(DeleteSnapshotCode(id), grpc::StatusCode::OK) << "idempotent";
  }
  EXPECT_TRUE(ListedIds(by_source).empty());
  EXPECT_EQ(DeleteSnapshotCode(of_b.snapshot().snapshot_id()), grpc::StatusCode::OK);
  MustDelete(a.volume_id());
  MustDelete(b.volume_id());
}

TEST_F(CsiSnapshotTest, ClonesHoldTheSourceData) {
  if (!HaveTool("qemu-io")) GTEST_SKIP() << "qemu-io is not installed";
  std::string out;
  Volume src = MustCreate(CreateReq("pvc-clone-src", BlockCap(Mode::SINGLE_NODE_WRITER)));
  std::string src_uri = PublishBlock(src.volume_id());
  ASSERT_TRUE(QemuIo(src_uri, "-c 'write -P 0xab 0 1M' -c 'write -P 0x5c 8M 64k'", &out)) << out;
  auto snap = MustSnapshot("snapshot-clone-src", src.volume_id());
  const std::string snap_id = snap.snapshot().snapshot_id();
  // Written after the snapshot: not in a clone of it, in a clone of the volume.
  ASSERT_TRUE(QemuIo(src_uri, "-c 'write -P 0xcd 0 1M'", &out)) << out;

  auto from_snap = CreateReq("pvc-clone-of-snap", BlockCap(Mode::SINGLE_NODE_WRITER));
  from_snap.mutable_volume_content_source()->mutable_snapshot()->set_snapshot_id(snap_id);
  {
    auto r = from_snap;
    r.mutable_capacity_range()->set_required_bytes(8 * kMiB);
    EXPECT_EQ(Code(&Controller::Stub::CreateVolume, r), grpc::StatusCode::OUT_OF_RANGE)
        << "smaller than the snapshot";
    r = from_snap;
    r.mutable_capacity_range()->set_limit_bytes(8 * kMiB);
    r.mutable_capacity_range()->set_required_bytes(0);
    EXPECT_EQ(Code(&Controller::Stub::CreateVolume, r), grpc::StatusCode::OUT_OF_RANGE)
        << "limit below the snapshot's size";
    r = from_snap;
    r.mutable_volume_content_source()->mutable_snapshot()->set_snapshot_id(src.volume_id() +
                                                                           "@no-such-snapshot");
    EXPECT_EQ(Code(&Controller::Stub::CreateVolume, r), grpc::StatusCode::NOT_FOUND);
    r = from_snap;
    r.mutable_volume_content_source()->mutable_volume()->set_volume_id("pvc-does-not-exist");
    EXPECT_EQ(Code(&Controller::Stub::CreateVolume, r), grpc::StatusCode::NOT_FOUND);
  }
  Volume clone = MustCreate(from_snap);
  EXPECT_EQ(clone.capacity_bytes(), src.capacity_bytes());
  ASSERT_TRUE(clone.has_content_source());
  EXPECT_EQ(clone.content_source().snapshot().snapshot_id(), snap_id);
  // Idempotent with the same source; ALREADY_EXISTS with another.
  EXPECT_EQ(MustCreate(from_snap).volume_id(), clone.volume_id());
  {
    auto r = from_snap;
    r.mutable_volume_content_source()->mutable_volume()->set_volume_id(src.volume_id());
    EXPECT_EQ(Code(&Controller::Stub::CreateVolume, r), grpc::StatusCode::ALREADY_EXISTS);
    r = CreateReq("pvc-clone-of-snap", BlockCap(Mode::SINGLE_NODE_WRITER));
    EXPECT_EQ(Code(&Controller::Stub::CreateVolume, r), grpc::StatusCode::ALREADY_EXISTS)
        << "same name without a source";
  }
  std::string clone_uri = PublishBlock(clone.volume_id());
  EXPECT_TRUE(QemuIo(clone_uri,
                     "-c 'read -P 0xab 0 1M' -c 'read -P 0 1M 7M' -c 'read -P 0x5c 8M 64k'", &out))
      << out;

  // A larger clone of a volume: its data now, zeros beyond the source's end.
  auto from_volume = CreateReq("pvc-clone-of-vol", BlockCap(Mode::SINGLE_NODE_WRITER), 32 * kMiB);
  from_volume.mutable_volume_content_source()->mutable_volume()->set_volume_id(src.volume_id());
  Volume vclone = MustCreate(from_volume);
  EXPECT_EQ(vclone.capacity_bytes(), 32 * kMiB);
  EXPECT_EQ(vclone.content_source().volume().volume_id(), src.volume_id());
  std::string vclone_uri = PublishBlock(vclone.volume_id());
  EXPECT_TRUE(QemuIo(
      vclone_uri, "-c 'read -P 0xcd 0 1M' -c 'read -P 0x5c 8M 64k' -c 'read -P 0 16M 16M'", &out))
      << out;

  // Clones are independent: the snapshot and the source go, the clone stays.
  EXPECT_EQ(Unpublish(src.volume_id(), "node-1"), grpc::StatusCode::OK);
  EXPECT_EQ(DeleteSnapshotCode(snap_id), grpc::StatusCode::OK);
  MustDelete(src.volume_id());
  EXPECT_TRUE(QemuIo(clone_uri, "-c 'read -P 0xab 0 1M'", &out)) << out;
  for (const auto& id : {clone.volume_id(), vclone.volume_id()}) {
    EXPECT_EQ(Unpublish(id, "node-1"), grpc::StatusCode::OK);
    MustDelete(id);
  }
}

TEST_F(CsiSnapshotTest, ExpandVolume) {
  ControllerExpandVolumeRequest none;
  EXPECT_EQ(Code(&Controller::Stub::ControllerExpandVolume, none),
            grpc::StatusCode::INVALID_ARGUMENT);
  ControllerExpandVolumeRequest no_range;
  no_range.set_volume_id("pvc-expand");
  EXPECT_EQ(Code(&Controller::Stub::ControllerExpandVolume, no_range),
            grpc::StatusCode::INVALID_ARGUMENT);
  ControllerExpandVolumeRequest unknown;
  unknown.set_volume_id("pvc-does-not-exist");
  unknown.mutable_capacity_range()->set_required_bytes(32 * kMiB);
  EXPECT_EQ(Code(&Controller::Stub::ControllerExpandVolume, unknown), grpc::StatusCode::NOT_FOUND);

  Volume v = MustCreate(CreateReq("pvc-expand", BlockCap(Mode::SINGLE_NODE_WRITER)));
  std::string uri = PublishBlock(v.volume_id());
  ControllerExpandVolumeRequest grow;
  grow.set_volume_id(v.volume_id());
  grow.mutable_capacity_range()->set_required_bytes(32 * kMiB);
  *grow.mutable_volume_capability() = BlockCap(Mode::SINGLE_NODE_WRITER);
  ControllerExpandVolumeResponse resp;
  grpc::Status s = Call(&Controller::Stub::ControllerExpandVolume, grow, &resp);
  ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  EXPECT_EQ(resp.capacity_bytes(), 32 * kMiB);
  EXPECT_TRUE(resp.node_expansion_required()) << "the node's device must be refreshed";

  ControllerGetVolumeRequest get;
  get.set_volume_id(v.volume_id());
  ControllerGetVolumeResponse got;
  ASSERT_TRUE(Call(&Controller::Stub::ControllerGetVolume, get, &got).ok());
  EXPECT_EQ(got.volume().capacity_bytes(), 32 * kMiB);
  if (HaveTool("nbdinfo")) {
    // A new NBD connection sees the new size.
    auto info = RunCommand("nbdinfo --size '" + uri + "'", std::chrono::seconds(60));
    EXPECT_EQ(info.exit_code, 0) << info.output;
    EXPECT_EQ(absl::StripAsciiWhitespace(info.output), std::to_string(32 * kMiB));
  }

  // Again, and smaller: the spec's OK with the current size.
  ControllerExpandVolumeResponse same;
  ASSERT_TRUE(Call(&Controller::Stub::ControllerExpandVolume, grow, &same).ok());
  EXPECT_EQ(same.capacity_bytes(), 32 * kMiB);
  auto smaller = grow;
  smaller.mutable_capacity_range()->set_required_bytes(16 * kMiB);
  ControllerExpandVolumeResponse not_shrunk;
  ASSERT_TRUE(Call(&Controller::Stub::ControllerExpandVolume, smaller, &not_shrunk).ok());
  EXPECT_EQ(not_shrunk.capacity_bytes(), 32 * kMiB);
  // A limit below the current size leaves nothing to grow to: volumes never shrink.
  smaller.mutable_capacity_range()->set_limit_bytes(16 * kMiB);
  EXPECT_EQ(Code(&Controller::Stub::ControllerExpandVolume, smaller),
            grpc::StatusCode::OUT_OF_RANGE);
  // A range with no 4 KiB multiple in it.
  auto bad_range = grow;
  bad_range.mutable_capacity_range()->set_required_bytes(64 * kMiB + 1);
  bad_range.mutable_capacity_range()->set_limit_bytes(64 * kMiB + 2);
  EXPECT_EQ(Code(&Controller::Stub::ControllerExpandVolume, bad_range),
            grpc::StatusCode::OUT_OF_RANGE);

  EXPECT_EQ(Unpublish(v.volume_id(), "node-1"), grpc::StatusCode::OK);
  MustDelete(v.volume_id());
}

}  // namespace
}  // namespace syncblock::csi::conformance
