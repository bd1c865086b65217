// CSI conformance: the SnapshotMetadata service (changed-block tracking,
// KEP-3314) against real storage nodes and the real plugin. A backup client
// reads the GetMetadataDelta stream and applies the changed ranges, read from
// the newer snapshot, to a copy of the older one: the result must equal the
// newer snapshot byte for byte. `syncblock ctl snapshot diff` must report the
// same regions, GetMetadataAllocated must cover every byte that is not zero,
// and invalid requests get the spec's codes.
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "nlohmann/json.hpp"
#include "tests/csi/conformance_fixture.h"

namespace syncblock::csi::conformance {
namespace {

struct Extent {
  int64_t offset = 0;
  int64_t length = 0;
  bool operator==(const Extent& o) const { return offset == o.offset && length == o.length; }
};

struct Streamed {
  grpc::Status status;
  std::vector<Extent> extents;
  int messages = 0;
  int64_t capacity = -1;
  bool constant = true;  // type and capacity the same in every message
  int max_per_message = 0;
};

template <typename Response>
Streamed ReadAll(grpc::ClientReader<Response>* reader) {
  Streamed out;
  Response r;
  while (reader->Read(&r)) {
    ++out.messages;
    if (out.capacity == -1) out.capacity = r.volume_capacity_bytes();
    out.constant = out.constant && r.volume_capacity_bytes() == out.capacity &&
                   r.block_metadata_type() == VARIABLE_LENGTH;
    out.max_per_message = std::max(out.max_per_message, r.block_metadata_size());
    for (const auto& b : r.block_metadata())
      out.extents.push_back({b.byte_offset(), b.size_bytes()});
  }
  out.status = reader->Finish();
  return out;
}

std::string ReadBinary(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// What a backup application does with the stream: copies each range from
// `source` (the snapshot's data) over `dest`, grown to `capacity`.
void Apply(const std::vector<Extent>& extents, const std::string& source, int64_t capacity,
           std::string* dest) {
  dest->resize(static_cast<size_t>(capacity), '\0');
  for (const auto& e : extents) {
    ASSERT_LE(e.offset + e.length, static_cast<int64_t>(source.size()));
    std::copy(source.begin() + e.offset, source.begin() + e.offset + e.length,
              dest->begin() + e.offset);
  }
}

int64_t Bytes(const std::vector<Extent>& extents) {
  int64_t n = 0;
  for (const auto& e : extents) n += e.length;
  return n;
}

class CsiSnapshotMetadataTest : public CsiSnapshotTest {
 protected:
  void SetUp() override {
    CsiSnapshotTest::SetUp();
    if (IsSkipped()) return;
    metadata_ = SnapshotMetadata::NewStub(*channel_);
  }

  Streamed Delta(const GetMetadataDeltaRequest& req) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    auto reader = metadata_->GetMetadataDelta(&ctx, req);
    return ReadAll(reader.get());
  }
  Streamed Allocated(const GetMetadataAllocatedRequest& req) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    auto reader = metadata_->GetMetadataAllocated(&ctx, req);
    return ReadAll(reader.get());
  }
  static GetMetadataDeltaRequest DeltaReq(const std::string& base, const std::string& target,
                                          int64_t offset = 0, int32_t max = 0) {
    GetMetadataDeltaRequest r;
    r.set_base_snapshot_id(base);
    r.set_target_snapshot_id(target);
    r.set_starting_offset(offset);
    r.set_max_results(max);
    return r;
  }
  static GetMetadataAllocatedRequest AllocatedReq(const std::string& id, int64_t offset = 0) {
    GetMetadataAllocatedRequest r;
    r.set_snapshot_id(id);
    r.set_starting_offset(offset);
    return r;
  }

  // The data of snapshot `snapshot_id`, through a clone of it: the bytes a
  // backup application would read.
  std::string SnapshotData(const std::string& clone_name, const std::string& snapshot_id) {
    auto req = CreateReq(clone_name, BlockCap(Mode::SINGLE_NODE_WRITER), 0);
    req.mutable_volume_content_source()->mutable_snapshot()->set_snapshot_id(snapshot_id);
    Volume clone = MustCreate(req);
    clones_.push_back(clone.volume_id());
    std::string uri = PublishBlock(clone.volume_id());
    std::string image = dir_->Join(clone_name + ".img");
    auto r = RunCommand("qemu-img convert -f raw -O raw '" + uri + "' " + image,
                        std::chrono::seconds(120));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return ReadBinary(image);
  }

  void TearDown() override {
    for (const auto& id : clones_) {
      Unpublish(id, "node-1");
      MustDelete(id);
    }
  }

  std::unique_ptr<SnapshotMetadata::Stub> metadata_;
  std::vector<std::string> clones_;
};

TEST_F(CsiSnapshotMetadataTest, TheDeltaTurnsTheOlderSnapshotIntoTheNewer) {
  if (!HaveTool("qemu-io") || !HaveTool("qemu-img")) GTEST_SKIP() << "qemu-utils not installed";
  std::string out;
  Volume src = MustCreate(CreateReq("pvc-cbt-src", BlockCap(Mode::SINGLE_NODE_WRITER)));
  const int64_t capacity = src.capacity_bytes();
  ASSERT_EQ(capacity, 16 * kMiB);
  std::string uri = PublishBlock(src.volume_id());
  // Unaligned ranges, and the volume's last bytes.
  ASSERT_TRUE(QemuIo(uri,
                     "-c 'write -P 0x11 0 1M' -c 'write -P 0x22 5M 100k' "
                     "-c 'write -P 0x33 16376k 8k'",
                     &out))
      << out;
  const std::string s1 = MustSnapshot("snapshot-cbt-1", src.volume_id()).snapshot().snapshot_id();
  ASSERT_TRUE(QemuIo(uri,
                     "-c 'write -P 0x44 512k 68k' -c 'write -P 0x55 9M 4k' "
                     "-c 'write -P 0x66 16380k 4k' -c 'write -P 0 3M 64k'",
                     &out))
      << out;
  const std::string s2 = MustSnapshot("snapshot-cbt-2", src.volume_id()).snapshot().snapshot_id();
  // Written after s2: in neither.
  ASSERT_TRUE(QemuIo(uri, "-c 'write -P 0x77 12M 1M'", &out)) << out;

  const std::string older = SnapshotData("pvc-cbt-s1", s1);
  const std::string newer = SnapshotData("pvc-cbt-s2", s2);
  ASSERT_EQ(static_cast<int64_t>(older.size()), capacity);
  ASSERT_EQ(static_cast<int64_t>(newer.size()), capacity);
  ASSERT_NE(older, newer);

  // One tuple per message: the stream is read to its end.
  Streamed delta = Delta(DeltaReq(s1, s2, 0, 1));
  ASSERT_TRUE(delta.status.ok()) << delta.status.error_code() << " "
                                 << delta.status.error_message();
  EXPECT_EQ(delta.capacity, capacity);
  EXPECT_TRUE(delta.constant);
  EXPECT_EQ(delta.max_per_message, 1);
  EXPECT_EQ(delta.messages, static_cast<int>(delta.extents.size()));
  for (size_t i = 1; i < delta.extents.size(); ++i) {
    EXPECT_GT(delta.extents[i].offset, delta.extents[i - 1].offset + delta.extents[i - 1].length)
        << "extents ascend without touching";
  }
  // The writes (68k + 4k + 4k + 64k) at region granularity, not the volume.
  EXPECT_GE(Bytes(delta.extents), 140 * 1024);
  EXPECT_LT(Bytes(delta.extents), capacity / 4);

  std::string restored = older;
  Apply(delta.extents, newer, delta.capacity, &restored);
  EXPECT_TRUE(restored == newer) << "the older snapshot plus the delta is not the newer one";

  // The default page size gives the same list, in fewer messages.
  Streamed whole = Delta(DeltaReq(s1, s2));
  ASSERT_TRUE(whole.status.ok()) << whole.status.error_message();
  EXPECT_EQ(whole.extents, delta.extents);
  EXPECT_EQ(whole.messages, 1);

  // A resumed call starts at the region boundary at or below its offset.
  Streamed resumed = Delta(DeltaReq(s1, s2, 9 * kMiB + 100));
  ASSERT_TRUE(resumed.status.ok()) << resumed.status.error_message();
  std::vector<Extent> tail;
  for (const auto& e : delta.extents) {
    if (e.offset + e.length > 9 * kMiB) tail.push_back(e);
  }
  ASSERT_FALSE(tail.empty());
  EXPECT_EQ(resumed.extents, tail);

  // `syncblock ctl snapshot diff` reports the same regions.
  auto ctl = RunCommand(SyncblockBinary() + " ctl snapshot diff " + s1 + " " + s2 +
                        " --storage-nodes " + StorageAddresses() + AdminTls() + " -o json");
  ASSERT_EQ(ctl.exit_code, 0) << ctl.output;
  auto j = nlohmann::json::parse(ctl.output, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << ctl.output;
  const int64_t region = j["region_size"].get<int64_t>();
  ASSERT_GT(region, 0);
  std::vector<int64_t> from_csi;
  for (const auto& e : delta.extents) {
    for (int64_t r = e.offset / region; r * region < e.offset + e.length; ++r)
      from_csi.push_back(r);
  }
  EXPECT_EQ(from_csi, j["changed_regions"].get<std::vector<int64_t>>()) << ctl.output;
  EXPECT_TRUE(j["exact"].get<bool>()) << "a snapshot chain's diff comes from its records";

  // Allocated: every byte that is not zero is covered.
  Streamed allocated = Allocated(AllocatedReq(s1));
  ASSERT_TRUE(allocated.status.ok()) << allocated.status.error_message();
  EXPECT_EQ(allocated.capacity, capacity);
  EXPECT_GE(Bytes(allocated.extents), 1 * kMiB + 100 * 1024 + 8 * 1024);
  EXPECT_LT(Bytes(allocated.extents), capacity / 4);
  std::string from_zero;
  Apply(allocated.extents, older, allocated.capacity, &from_zero);
  EXPECT_TRUE(from_zero == older) << "zeros plus the allocated ranges are not the snapshot";

  EXPECT_EQ(Unpublish(src.volume_id(), "node-1"), grpc::StatusCode::OK);
  for (const auto& id : {s1, s2}) EXPECT_EQ(DeleteSnapshotCode(id), grpc::StatusCode::OK);
  MustDelete(src.volume_id());
}

TEST_F(CsiSnapshotMetadataTest, InvalidRequestsGetTheSpecsCodes) {
  Volume a = MustCreate(CreateReq("pvc-cbt-invalid-a", BlockCap(Mode::SINGLE_NODE_WRITER)));
  Volume b = MustCreate(CreateReq("pvc-cbt-invalid-b", BlockCap(Mode::SINGLE_NODE_WRITER)));
  const std::string a1 = MustSnapshot("snapshot-cbt-a1", a.volume_id()).snapshot().snapshot_id();
  const std::string a2 = MustSnapshot("snapshot-cbt-a2", a.volume_id()).snapshot().snapshot_id();
  const std::string b1 = MustSnapshot("snapshot-cbt-b1", b.volume_id()).snapshot().snapshot_id();
  const int64_t size = a.capacity_bytes();

  auto delta = [&](const GetMetadataDeltaRequest& r) { return Delta(r).status.error_code(); };
  auto allocated = [&](const GetMetadataAllocatedRequest& r) {
    return Allocated(r).status.error_code();
  };
  EXPECT_EQ(delta(DeltaReq(a1, a2)), grpc::StatusCode::OK);
  EXPECT_EQ(delta(DeltaReq("", a2)), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(delta(DeltaReq(a1, "")), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(delta(DeltaReq(a.volume_id() + "@no-such-snapshot", a2)), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(delta(DeltaReq(a1, "pvc-does-not-exist@snap")), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(delta(DeltaReq("not-a-snapshot-id", a2)), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(delta(DeltaReq(a1, b1)), grpc::StatusCode::INVALID_ARGUMENT) << "different volumes";
  EXPECT_EQ(delta(DeltaReq(a2, a1)), grpc::StatusCode::INVALID_ARGUMENT) << "base newer";
  EXPECT_EQ(delta(DeltaReq(a1, a2, size)), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_EQ(delta(DeltaReq(a1, a2, size - 1)), grpc::StatusCode::OK);
  EXPECT_EQ(delta(DeltaReq(a1, a2, -1)), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(delta(DeltaReq(a1, a2, 0, -1)), grpc::StatusCode::INVALID_ARGUMENT);

  EXPECT_EQ(allocated(AllocatedReq(a1)), grpc::StatusCode::OK);
  EXPECT_EQ(allocated(AllocatedReq("")), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(allocated(AllocatedReq(a.volume_id() + "@no-such-snapshot")),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(allocated(AllocatedReq(a1, size)), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_EQ(allocated(AllocatedReq(a1, -5)), grpc::StatusCode::INVALID_ARGUMENT);
  auto negative_max = AllocatedReq(a1);
  negative_max.set_max_results(-2);
  EXPECT_EQ(allocated(negative_max), grpc::StatusCode::INVALID_ARGUMENT);

  // Nothing changed between a1 and a2: one message, no tuples, the capacity.
  Streamed none = Delta(DeltaReq(a1, a2));
  EXPECT_EQ(none.messages, 1);
  EXPECT_TRUE(none.extents.empty());
  EXPECT_EQ(none.capacity, size);

  for (const auto& id : {a1, a2, b1}) EXPECT_EQ(DeleteSnapshotCode(id), grpc::StatusCode::OK);
  MustDelete(a.volume_id());
  MustDelete(b.volume_id());
}

}  // namespace
}  // namespace syncblock::csi::conformance
