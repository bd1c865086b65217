// GroupSnapshots' protocol against a fake cluster that records the calls:
// every member's writes are held before any member is cut, every hold is
// released after the last cut, and released on every failure too; the
// group's identity lives in its members' names. The end-to-end check with
// real writers is tests/csi/conformance_group_snapshot_test.cc.
#include "replication/client/group_snapshots.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace syncblock::repl {
namespace {

using absl::Status;
using absl::StatusOr;

class RecordingCluster : public StorageCluster {
 public:
  std::vector<std::string> calls;  // "hold vol", "cut vol", "release vol", "delete id"
  std::set<std::string> volumes = {"a", "b", "c"};
  std::map<std::string, ClusterSnapshotView> snapshots;  // by id
  std::string fail_cut;                                  // this volume's cut fails
  std::string lost_hold;                                 // this volume's hold is gone at release

  StatusOr<std::vector<StorageNodeView>> Nodes() override { return Unimpl(); }
  StatusOr<VolumeView> CreateVolume(const VolumeSpec&) override { return Unimpl(); }
  Status DeleteVolume(const std::string&) override { return Unimpl(); }
  StatusOr<VolumeView> GetVolume(const std::string& id) override {
    if (!volumes.count(id)) return absl::NotFoundError("volume " + id + " not found");
    VolumeView v;
    v.id = id;
    return v;
  }
  StatusOr<std::vector<VolumeView>> ListVolumes() override { return Unimpl(); }
  StatusOr<VolumeView> SetAttributes(const std::string&, const std::map<std::string, std::string>&,
                                     const std::vector<std::string>&) override {
    return Unimpl();
  }
  StatusOr<VolumeView> AddReplica(const std::string&, const std::string&, bool) override {
    return Unimpl();
  }
  StatusOr<VolumeView> RemoveReplica(const std::string&, const std::string&) override {
    return Unimpl();
  }
  StatusOr<VolumeView> MoveWitness(const std::string&, const std::string&, std::string*) override {
    return Unimpl();
  }
  StatusOr<VolumeView> Promote(const std::string&, const std::string&, const std::string&,
                               PromoteLoss) override {
    return Unimpl();
  }
  StatusOr<VolumeView> Resync(const std::string&, const std::string&, bool) override {
    return Unimpl();
  }
  StatusOr<VerifyReport> Verify(const std::string&) override { return Unimpl(); }
  StatusOr<VolumeView> ExpandVolume(const std::string&, uint64_t) override { return Unimpl(); }
  StatusOr<ClusterSnapshotView> CreateSnapshot(const std::string& volume,
                                               const std::string& name) override {
    Record("cut " + volume);
    if (volume == fail_cut) return absl::UnavailableError("no majority");
    ClusterSnapshotView s;
    s.id = SnapshotId(volume, name);
    s.volume_id = volume;
    s.name = name;
    s.ready_to_use = true;
    std::lock_guard<std::mutex> l(mu_);
    snapshots[s.id] = s;
    return s;
  }
  Status DeleteSnapshot(const std::string& id) override {
    Record("delete " + id);
    std::lock_guard<std::mutex> l(mu_);
    snapshots.erase(id);
    return absl::OkStatus();
  }
  StatusOr<ClusterSnapshotView> GetSnapshot(const std::string&) override { return Unimpl(); }
  StatusOr<std::vector<ClusterSnapshotView>> ListSnapshots(const std::string& volume) override {
    EXPECT_TRUE(volume.empty());
    std::lock_guard<std::mutex> l(mu_);
    std::vector<ClusterSnapshotView> out;
    for (const auto& [id, s] : snapshots) out.push_back(s);
    return out;
  }
  StatusOr<SnapshotDiffView> DiffSnapshots(const std::string&, const std::string&) override {
    return Unimpl();
  }
  StatusOr<VerifyReport> VerifySnapshot(const std::string&) override { return Unimpl(); }
  StatusOr<SnapshotDiffView> AllocatedRegions(const std::string&) override { return Unimpl(); }
  Status HoldWrites(const std::string& volume, const std::string&,
                    std::chrono::milliseconds) override {
    Record("hold " + volume);
    return volumes.count(volume) ? absl::OkStatus() : absl::NotFoundError(volume);
  }
  StatusOr<HoldReleaseView> ReleaseWrites(const std::string& volume, const std::string&) override {
    Record("release " + volume);
    HoldReleaseView v;
    v.found = volume != lost_hold;
    v.held_us = volume == "a" ? 1500 : 900;
    v.writes_held = 2;
    return v;
  }

  // The position of the first and last call starting with `prefix`.
  std::pair<size_t, size_t> Span(const std::string& prefix) {
    size_t first = calls.size(), last = 0;
    for (size_t i = 0; i < calls.size(); ++i) {
      if (calls[i].rfind(prefix, 0) == 0) {
        first = std::min(first, i);
        last = i;
      }
    }
    return {first, last};
  }
  size_t Count(const std::string& prefix) {
    return std::count_if(calls.begin(), calls.end(),
                         [&](const std::string& c) { return c.rfind(prefix, 0) == 0; });
  }

 private:
  static Status Unimpl() { return absl::UnimplementedError("not in this fake"); }
  void Record(const std::string& call) {
    std::lock_guard<std::mutex> l(mu_);
    calls.push_back(call);
  }
  std::mutex mu_;
};

class GroupSnapshotsTest : public ::testing::Test {
 protected:
  std::shared_ptr<RecordingCluster> cluster_ = std::make_shared<RecordingCluster>();
  GroupSnapshots groups_{cluster_};
};

TEST_F(GroupSnapshotsTest, EveryHoldBeforeAnyCutEveryReleaseAfterTheLast) {
  auto g = groups_.Create("nightly", {"b", "a"});
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->id, "grp.2.nightly");
  ASSERT_EQ(g->members.size(), 2u);
  EXPECT_EQ(g->members[0].id, "a@grp.2.nightly");
  EXPECT_TRUE(g->created);
  EXPECT_EQ(g->hold_us, 1500u);  // the longest
  EXPECT_EQ(g->writes_held, 4u);
  auto holds = cluster_->Span("hold ");
  auto cuts = cluster_->Span("cut ");
  auto releases = cluster_->Span("release ");
  EXPECT_EQ(cluster_->Count("hold "), 2u);
  EXPECT_EQ(cluster_->Count("release "), 2u);
  EXPECT_LT(holds.second, cuts.first);
  EXPECT_LT(cuts.second, releases.first);
}

TEST_F(GroupSnapshotsTest, IdempotentByNameAndConflictsWithOtherVolumes) {
  ASSERT_TRUE(groups_.Create("nightly", {"a", "b"}).ok());
  cluster_->calls.clear();
  auto again = groups_.Create("nightly", {"b", "a"});
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->created);
  EXPECT_EQ(cluster_->Count("hold "), 0u);  // nothing cut again
  EXPECT_EQ(groups_.Create("nightly", {"a", "c"}).status().code(),
            absl::StatusCode::kAlreadyExists);
  auto got = groups_.Get("grp.2.nightly");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->members.size(), 2u);
  EXPECT_TRUE(groups_.Delete("grp.2.nightly").ok());
  EXPECT_EQ(groups_.Get("grp.2.nightly").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(groups_.Delete("grp.2.nightly").ok());
}

TEST_F(GroupSnapshotsTest, AFailedCutReleasesEveryHoldAndLeavesNoMember) {
  cluster_->fail_cut = "b";
  auto g = groups_.Create("nightly", {"a", "b"});
  EXPECT_EQ(g.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(cluster_->Count("release "), 2u);
  EXPECT_TRUE(cluster_->snapshots.empty());
}

TEST_F(GroupSnapshotsTest, AHoldThatEndedTooEarlyFailsTheGroup) {
  cluster_->lost_hold = "a";
  auto g = groups_.Create("nightly", {"a", "b"});
  EXPECT_EQ(g.status().code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(cluster_->snapshots.empty());
}

TEST_F(GroupSnapshotsTest, AnUnknownVolumeIsNotFoundBeforeAnythingIsHeld) {
  EXPECT_EQ(groups_.Create("nightly", {"a", "zz"}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(cluster_->Count("hold "), 0u);
}

TEST_F(GroupSnapshotsTest, AnInterruptedCreateIsCutAnew) {
  ASSERT_TRUE(cluster_->CreateSnapshot("a", "grp.2.nightly").ok());  // b's is missing
  EXPECT_EQ(groups_.Get("grp.2.nightly").status().code(), absl::StatusCode::kNotFound);
  cluster_->calls.clear();
  auto g = groups_.Create("nightly", {"a", "b"});
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_TRUE(g->created);
  EXPECT_EQ(cluster_->Count("delete a@grp.2.nightly"), 1u);
  EXPECT_EQ(g->members.size(), 2u);
}

TEST_F(GroupSnapshotsTest, IdsAndMemberNames) {
  EXPECT_EQ(GroupSnapshotId("x", 3), "grp.3.x");
  auto parsed = ParseGroupSnapshotId("grp.12.snap.1");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->first, 12u);
  EXPECT_EQ(parsed->second, "snap.1");
  for (const char* bad : {"grp.0.x", "grp.x", "grp.2.", "grp.02.x", "snapshot-1", "grp.-1.x"}) {
    EXPECT_FALSE(ParseGroupSnapshotId(bad).ok()) << bad;
  }
  EXPECT_EQ(GroupOfSnapshot("grp.2.x"), "grp.2.x");
  EXPECT_EQ(GroupOfSnapshot("before-upgrade"), "");
  EXPECT_EQ(groups_.Create("bad name", {"a"}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(groups_.Create("x", {}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(groups_.Create("x", {"a", "a"}).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace syncblock::repl
