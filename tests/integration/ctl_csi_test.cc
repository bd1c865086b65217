// `syncblock ctl csi ...` against a real local cluster with its CSI plugin
// (`local up --require-csi`): the whole life of a block volume driven by hand
// (create, list, get, publish, stage, mount, real IO through the target with
// qemu-io, stats, umount, unstage, unpublish, delete), snapshots, clones and
// expansion, and the error cases.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/csi/node_test_cleanup.h"
#include "tests/support/csi_e2e_data.h"
#include "tests/support/local_cluster.h"
#include "tests/support/test_util.h"

namespace syncblock::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using json = nlohmann::json;

class CtlCsiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!csi::CanRun()) return;
    cluster_ = new LocalCluster(3, "--require-csi");
  }

  static void TearDownTestSuite() {
    if (cluster_ != nullptr) {
      // Whatever a failed test left staged or attached, before the cluster goes.
      csi::CleanUpNodeArtifacts(cluster_->dir());
    }
    delete cluster_;
    cluster_ = nullptr;
  }

  void SetUp() override {
    if (!csi::CanRun()) {
      GTEST_SKIP() << "needs root, /dev/fuse, loop devices, losetup, mkfs.ext4/xfs";
    }
    ASSERT_TRUE(cluster_->ok()) << cluster_->up_output();
  }

  static CommandResult Ctl(const std::string& args) { return cluster_->Ctl("csi " + args); }
  static json CtlJson(const std::string& args) { return cluster_->CtlJson("csi " + args); }

  static LocalCluster* cluster_;
};

LocalCluster* CtlCsiTest::cluster_ = nullptr;

TEST_F(CtlCsiTest, InfoShowsTheDriver) {
  json info = CtlJson("info");
  ASSERT_TRUE(info.is_object());
  EXPECT_EQ(info["plugin_info"].value("name", ""), "csi.syncblock.dev") << info.dump(2);
  // BoolValue maps to a bare JSON bool.
  EXPECT_EQ(info["probe"]["ready"], json(true)) << info.dump(2);
  EXPECT_FALSE(info["node_info"].value("node_id", "").empty()) << info.dump(2);
  EXPECT_FALSE(info["controller_capabilities"]["capabilities"].empty()) << info.dump(2);
  EXPECT_EQ(info["group_controller_capabilities"]["capabilities"].size(), 1u) << info.dump(2);

  CommandResult text = Ctl("info");
  ASSERT_EQ(text.exit_code, 0) << text.output;
  EXPECT_THAT(text.output, HasSubstr("csi.syncblock.dev"));
  EXPECT_THAT(text.output, HasSubstr("CREATE_DELETE_VOLUME"));
  EXPECT_THAT(text.output, HasSubstr("STAGE_UNSTAGE_VOLUME"));
  EXPECT_THAT(text.output, HasSubstr("GROUP_CONTROLLER_SERVICE"));
  EXPECT_THAT(text.output,
              HasSubstr("group capabilities:      CREATE_DELETE_GET_VOLUME_GROUP_SNAPSHOT"));
}

TEST_F(CtlCsiTest, BlockVolumeLifecycle) {
  TempDir work;
  csi::NodeArtifactsGuard guard(work.path());
  const std::string staging = work.Join("staging/vol");
  const std::string target = work.Join("pods/vol/dev");

  json created = CtlJson("create ctl-csi-block --size 64M --block --replicas 3");
  ASSERT_TRUE(created.is_object());
  const std::string id = created["volume"].value("volume_id", "");
  ASSERT_EQ(id, "ctl-csi-block") << created.dump(2);
  EXPECT_EQ(created["volume"]["capacity_bytes"], json(std::to_string(64 << 20))) << created.dump(2);

  json listed = CtlJson("list");
  ASSERT_TRUE(listed.is_object());
  std::vector<std::string> ids;
  for (const auto& e : listed["entries"]) ids.push_back(e["volume"].value("volume_id", ""));
  EXPECT_THAT(ids, ::testing::Contains(id)) << listed.dump(2);
  CommandResult list_text = Ctl("list");
  EXPECT_EQ(list_text.exit_code, 0) << list_text.output;
  EXPECT_THAT(list_text.output, HasSubstr(id));

  json got = CtlJson("get " + id);
  ASSERT_TRUE(got.is_object());
  EXPECT_EQ(got["volume"].value("volume_id", ""), id) << got.dump(2);
  EXPECT_TRUE(got["status"]["published_node_ids"].empty()) << got.dump(2);

  CommandResult published = Ctl("publish " + id + " --block");
  ASSERT_EQ(published.exit_code, 0) << published.output;
  EXPECT_THAT(published.output, HasSubstr("nbdUri=nbds://"));
  json context = CtlJson("publish " + id + " --block");  // idempotent
  ASSERT_TRUE(context.is_object());
  std::vector<std::string> pairs;
  for (const auto& [key, value] : context["publish_context"].items()) {
    pairs.push_back(key + "=" + value.get<std::string>());
  }
  ASSERT_TRUE(context["publish_context"].contains("nbdUri")) << context.dump(2);
  // storageNodes holds commas itself: the key=value list must keep them.
  ASSERT_TRUE(context["publish_context"].contains("storageNodes")) << context.dump(2);

  json after_publish = CtlJson("get " + id);
  ASSERT_TRUE(after_publish.is_object());
  EXPECT_EQ(after_publish["status"]["published_node_ids"].size(), 1u) << after_publish.dump(2);

  CommandResult staged = Ctl("stage " + id + " --block --staging-path " + staging +
                             " --publish-context '" + absl::StrJoin(pairs, ",") + "'");
  ASSERT_EQ(staged.exit_code, 0) << staged.output;
  CommandResult mounted =
      Ctl("mount " + id + " --block --staging-path " + staging + " --target " + target);
  ASSERT_EQ(mounted.exit_code, 0) << mounted.output;

  CommandResult write =
      RunCommand("qemu-io -f raw " + target + " -c 'write -P 0x3c 0 1M'", std::chrono::seconds(60));
  ASSERT_EQ(write.exit_code, 0) << write.output;
  EXPECT_THAT(write.output, HasSubstr("wrote 1048576/1048576 bytes"));
  CommandResult read = RunCommand("qemu-io -f raw -r " + target + " -c 'read -P 0x3c 0 1M'",
                                  std::chrono::seconds(60));
  ASSERT_EQ(read.exit_code, 0) << read.output;
  EXPECT_THAT(read.output, HasSubstr("read 1048576/1048576 bytes"));
  EXPECT_THAT(read.output, ::testing::Not(HasSubstr("Pattern verification failed")));
  // The byte after the write is still zero: the pattern is where it was put.
  CommandResult after =
      RunCommand("qemu-io -f raw -r " + target + " -c 'read -P 0 1M 4k'", std::chrono::seconds(60));
  EXPECT_THAT(after.output, ::testing::Not(HasSubstr("Pattern verification failed")))
      << after.output;

  json stats = CtlJson("stats " + id + " --path " + target);
  ASSERT_TRUE(stats.is_object());
  ASSERT_FALSE(stats["usage"].empty()) << stats.dump(2);
  EXPECT_EQ(stats["usage"][0]["total"], json(std::to_string(64 << 20))) << stats.dump(2);
  EXPECT_FALSE(stats["volume_condition"].value("abnormal", true)) << stats.dump(2);

  // Online expansion, controller then node, as the CO does it: the published
  // block device grows and keeps its data.
  CommandResult expanded =
      Ctl("expand " + id + " --size 96M --block --path " + target + " --staging-path " + staging);
  ASSERT_EQ(expanded.exit_code, 0) << expanded.output;
  EXPECT_THAT(expanded.output, HasSubstr("and on the node"));
  json grown = CtlJson("stats " + id + " --path " + target);
  ASSERT_TRUE(grown.is_object());
  ASSERT_FALSE(grown["usage"].empty()) << grown.dump(2);
  EXPECT_EQ(grown["usage"][0]["total"], json(std::to_string(96 << 20))) << grown.dump(2);
  CommandResult kept =
      RunCommand("qemu-io -f raw -r " + target + " -c 'read -P 0x3c 0 1M' -c 'read -P 0 90M 1M'",
                 std::chrono::seconds(60));
  EXPECT_THAT(kept.output, HasSubstr("read 1048576/1048576 bytes")) << kept.output;
  EXPECT_THAT(kept.output, ::testing::Not(HasSubstr("Pattern verification failed")));

  CommandResult umounted = Ctl("umount " + id + " --target " + target);
  EXPECT_EQ(umounted.exit_code, 0) << umounted.output;
  CommandResult unstaged = Ctl("unstage " + id + " --staging-path " + staging);
  EXPECT_EQ(unstaged.exit_code, 0) << unstaged.output;
  EXPECT_TRUE(csi::MountsUnder(work.path()).empty())
      << absl::StrJoin(csi::MountsUnder(work.path()), " ");
  CommandResult unpublished = Ctl("unpublish " + id);
  EXPECT_EQ(unpublished.exit_code, 0) << unpublished.output;
  json after_unpublish = CtlJson("get " + id);
  ASSERT_TRUE(after_unpublish.is_object());
  EXPECT_TRUE(after_unpublish["status"]["published_node_ids"].empty()) << after_unpublish.dump(2);

  CommandResult deleted = Ctl("delete " + id);
  EXPECT_EQ(deleted.exit_code, 0) << deleted.output;
  CommandResult gone = Ctl("get " + id);
  EXPECT_EQ(gone.exit_code, 3) << gone.output;  // not found
  EXPECT_THAT(gone.output, HasSubstr("NOT_FOUND"));
}

TEST_F(CtlCsiTest, AutoPublishStagesAndTheDataIsOnTheReplicas) {
  TempDir work;
  csi::NodeArtifactsGuard guard(work.path());
  const std::string staging = work.Join("staging/auto");
  const std::string target = work.Join("pods/auto/dev");
  CommandResult created = Ctl("create ctl-csi-auto --size 16M --block --access rwx");
  ASSERT_EQ(created.exit_code, 0) << created.output;
  EXPECT_THAT(created.output, HasSubstr("id:        ctl-csi-auto"));

  CommandResult staged =
      Ctl("stage ctl-csi-auto --block --access rwx --auto-publish --staging-path " + staging);
  ASSERT_EQ(staged.exit_code, 0) << staged.output;
  CommandResult mounted = Ctl("mount ctl-csi-auto --block --access rwx --staging-path " + staging +
                              " --target " + target);
  ASSERT_EQ(mounted.exit_code, 0) << mounted.output;
  CommandResult write = RunCommand("qemu-io -f raw " + target + " -c 'write -P 0x5a 4k 8k'",
                                   std::chrono::seconds(60));
  ASSERT_EQ(write.exit_code, 0) << write.output;
  // The write went to the cluster, not somewhere local: the volume's NBD
  // export serves it.
  std::string uri = cluster_->Export("ctl-csi-auto");
  ASSERT_FALSE(uri.empty());
  CommandResult over_nbd = RunCommand("qemu-io -f raw -r '" + uri + "' -c 'read -P 0x5a 4k 8k'",
                                      std::chrono::seconds(60));
  EXPECT_THAT(over_nbd.output, HasSubstr("read 8192/8192 bytes")) << over_nbd.output;
  EXPECT_THAT(over_nbd.output, ::testing::Not(HasSubstr("Pattern verification failed")));

  EXPECT_EQ(Ctl("umount ctl-csi-auto --target " + target).exit_code, 0);
  EXPECT_EQ(Ctl("unstage ctl-csi-auto --staging-path " + staging).exit_code, 0);
  EXPECT_EQ(Ctl("unpublish ctl-csi-auto").exit_code, 0);
  CommandResult deleted = Ctl("delete ctl-csi-auto");
  EXPECT_EQ(deleted.exit_code, 0) << deleted.output;
  EXPECT_THAT(deleted.output, HasSubstr("deleted ctl-csi-auto"));
}

TEST_F(CtlCsiTest, SnapshotCloneAndExpand) {
  json created = CtlJson("create ctl-csi-snap --size 16M --block --replicas 3");
  ASSERT_TRUE(created.is_object());
  const std::string id = created["volume"].value("volume_id", "");
  ASSERT_EQ(id, "ctl-csi-snap") << created.dump(2);
  std::string uri = cluster_->Export(id);
  ASSERT_FALSE(uri.empty());
  CommandResult write = RunCommand("qemu-io -f raw '" + uri + "' -c 'write -P 0x7e 64k 128k'",
                                   std::chrono::seconds(60));
  ASSERT_EQ(write.exit_code, 0) << write.output;

  json snap = CtlJson("snapshot create snapshot-ctl --volume " + id);
  ASSERT_TRUE(snap.is_object());
  const std::string snap_id = snap["snapshot"].value("snapshot_id", "");
  EXPECT_EQ(snap_id, id + "@snapshot-ctl") << snap.dump(2);
  EXPECT_EQ(snap["snapshot"]["ready_to_use"], json(true)) << snap.dump(2);
  CommandResult listed = Ctl("snapshot list --volume " + id);
  ASSERT_EQ(listed.exit_code, 0) << listed.output;
  EXPECT_THAT(listed.output, HasSubstr(snap_id));
  EXPECT_THAT(listed.output, HasSubstr("yes"));
  json by_id = CtlJson("snapshot list --snapshot " + snap_id);
  ASSERT_TRUE(by_id.is_object());
  ASSERT_EQ(by_id["entries"].size(), 1u) << by_id.dump(2);

  // Overwritten after the snapshot: the clone has the old data.
  ASSERT_EQ(RunCommand("qemu-io -f raw '" + uri + "' -c 'write -P 0x11 64k 128k'",
                       std::chrono::seconds(60))
                .exit_code,
            0);
  json clone = CtlJson("create ctl-csi-clone --size 16M --block --from-snapshot " + snap_id);
  ASSERT_TRUE(clone.is_object());
  EXPECT_EQ(clone["volume"]["content_source"]["snapshot"].value("snapshot_id", ""), snap_id)
      << clone.dump(2);
  std::string clone_uri = cluster_->Export("ctl-csi-clone");
  ASSERT_FALSE(clone_uri.empty());
  CommandResult read = RunCommand(
      "qemu-io -f raw -r '" + clone_uri + "' -c 'read -P 0x7e 64k 128k' -c 'read -P 0 0 64k'",
      std::chrono::seconds(60));
  EXPECT_THAT(read.output, HasSubstr("read 131072/131072 bytes")) << read.output;
  EXPECT_THAT(read.output, ::testing::Not(HasSubstr("Pattern verification failed")));

  json expanded = CtlJson("expand ctl-csi-clone --size 32M");
  ASSERT_TRUE(expanded.is_object());
  EXPECT_EQ(expanded["capacity_bytes"], json(std::to_string(32 << 20))) << expanded.dump(2);
  EXPECT_EQ(expanded["node_expansion_required"], json(true)) << expanded.dump(2);
  CommandResult expanded_text = Ctl("expand ctl-csi-clone --size 32M");
  EXPECT_EQ(expanded_text.exit_code, 0) << expanded_text.output;
  EXPECT_THAT(expanded_text.output, HasSubstr("expanded ctl-csi-clone"));

  // The source keeps its snapshot: deleting it is refused until that goes.
  CommandResult refused = Ctl("delete " + id);
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_THAT(refused.output, HasSubstr("FAILED_PRECONDITION"));
  CommandResult snap_deleted = Ctl("snapshot delete " + snap_id);
  EXPECT_EQ(snap_deleted.exit_code, 0) << snap_deleted.output;
  json none = CtlJson("snapshot list --volume " + id);
  ASSERT_TRUE(none.is_object());
  EXPECT_TRUE(none["entries"].empty()) << none.dump(2);
  EXPECT_EQ(Ctl("delete " + id).exit_code, 0);
  EXPECT_EQ(Ctl("delete ctl-csi-clone").exit_code, 0);
}

TEST_F(CtlCsiTest, Errors) {
  CommandResult missing = Ctl("get nosuch");
  EXPECT_EQ(missing.exit_code, 3) << missing.output;
  EXPECT_THAT(missing.output, StartsWith("syncblock ctl: NOT_FOUND: "));
  EXPECT_EQ(std::count(missing.output.begin(), missing.output.end(), '\n'), 1) << missing.output;

  CommandResult no_size = Ctl("create sized-nothing --block");
  EXPECT_EQ(no_size.exit_code, 2) << no_size.output;
  EXPECT_THAT(no_size.output, HasSubstr("--size"));

  CommandResult no_context = Ctl("stage nosuch --block --staging-path /tmp/x");
  EXPECT_EQ(no_context.exit_code, 2) << no_context.output;

  CommandResult bad_access = Ctl("create x --size 1M --access rwz");
  EXPECT_EQ(bad_access.exit_code, 2) << bad_access.output;

  CommandResult two_sources = Ctl("create x --size 1M --block --from-snapshot a@b --from-volume a");
  EXPECT_EQ(two_sources.exit_code, 2) << two_sources.output;
  CommandResult no_volume = Ctl("snapshot create snap-x");
  EXPECT_EQ(no_volume.exit_code, 2) << no_volume.output;
  EXPECT_THAT(no_volume.output, HasSubstr("--volume"));
  CommandResult expand_no_size = Ctl("expand nosuch");
  EXPECT_EQ(expand_no_size.exit_code, 2) << expand_no_size.output;
  CommandResult expand_missing = Ctl("expand nosuch --size 32M");
  EXPECT_EQ(expand_missing.exit_code, 3) << expand_missing.output;
  EXPECT_THAT(expand_missing.output, StartsWith("syncblock ctl: NOT_FOUND: "));
  CommandResult snapshot_missing = Ctl("snapshot create snap-x --volume nosuch");
  EXPECT_EQ(snapshot_missing.exit_code, 3) << snapshot_missing.output;
  EXPECT_THAT(snapshot_missing.output, StartsWith("syncblock ctl: NOT_FOUND: "));

  // A plugin that is not there: UNAVAILABLE, exit 1.
  TempDir empty;
  CommandResult unreachable = RunCommand(SyncblockBinary() + " ctl csi --endpoint unix://" +
                                         empty.Join("none.sock") + " --timeout-ms 2000 info");
  EXPECT_EQ(unreachable.exit_code, 4) << unreachable.output;  // unavailable
  EXPECT_THAT(unreachable.output, StartsWith("syncblock ctl: "));

  CommandResult no_endpoint = RunCommand(SyncblockBinary() + " ctl csi info");
  EXPECT_EQ(no_endpoint.exit_code, 2) << no_endpoint.output;
}

}  // namespace
}  // namespace syncblock::testing
