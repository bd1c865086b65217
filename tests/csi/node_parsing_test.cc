// Pure parsing in the node plugin: /proc/self/mountinfo lines and the
// attachment records of the state directory.
#include <gtest/gtest.h>

#include <filesystem>

#include "csi/node/attachment_store.h"
#include "csi/node/mounter.h"
#include "tests/support/test_util.h"

namespace syncblock::csi {
namespace {

TEST(NodeMountInfoTest, ParsesFieldsEscapesAndOptionalTags) {
  const std::string text =
      "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
      "36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 shared:7 - ext3 /dev/root "
      "rw,errors=continue\n"
      "garbage line\n"
      "40 27 7:3 / /var/lib/kubelet/staging ro,relatime - xfs /dev/loop3 ro,nouuid\n";
  auto entries = ParseMountInfo(text);
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].mount_point, "/proc");
  EXPECT_EQ(entries[1].mount_point, "/mnt/with space");
  EXPECT_EQ(entries[1].root, "/mnt1");
  EXPECT_EQ(entries[1].fstype, "ext3");
  EXPECT_EQ(entries[1].source, "/dev/root");
  EXPECT_EQ(entries[1].options, "rw,noatime");
  EXPECT_EQ(entries[2].source, "/dev/loop3");
  EXPECT_EQ(entries[2].fstype, "xfs");
}

TEST(NodeAttachmentStoreTest, RoundTripsAndSurvivesOddIds) {
  testing::TempDir dir;
  AttachmentStore store(dir.path());
  ASSERT_TRUE(store.Init().ok());
  Attachment a;
  a.volume_id = "../../etc/passwd weird/id";
  a.mode = "fuse";
  a.device = "/dev/loop4";
  a.nbd_uri = "nbd://127.0.0.1:1/x";
  a.readonly = true;
  a.size_bytes = 1 << 30;
  a.fuse_pid = 1234;
  a.fuse_dir = "/state/fuse/x";
  a.staging_path = "/staging";
  a.fs_type = "xfs";
  a.mount_flags = {"noatime"};
  a.publish_paths = {"/pods/a", "/pods/b"};
  a.publish_options["/pods/a"] = PublishOptions{true, {"noexec", "nodev"}};
  a.publish_options["/pods/b"] = PublishOptions{false, {}};
  a.control_addresses = {"10.0.0.1:9500", "10.0.0.2:9500"};
  ASSERT_TRUE(store.Save(a).ok());
  Attachment b = a;
  b.volume_id = "pvc-2";
  b.mode = "nbd";
  b.nbd_index = 3;
  b.block = true;
  ASSERT_TRUE(store.Save(b).ok());

  auto loaded = store.Load(a.volume_id);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(AttachmentStore::ToJson(*loaded), AttachmentStore::ToJson(a));
  EXPECT_EQ(loaded->publish_options, a.publish_options);
  EXPECT_EQ(loaded->control_addresses, a.control_addresses);
  EXPECT_EQ(store.LoadAll().size(), 2u);
  // The record stays inside the state directory whatever the id says.
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path() + "/attachments")) {
    EXPECT_EQ(e.path().extension(), ".json") << e.path();
    ++files;
  }
  EXPECT_EQ(files, 2);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()),
                          std::filesystem::directory_iterator()),
            1);

  ASSERT_TRUE(store.Remove(a.volume_id).ok());
  EXPECT_TRUE(absl::IsNotFound(store.Load(a.volume_id).status()));
  EXPECT_EQ(store.LoadAll().size(), 1u);
}

TEST(NodeAttachmentStoreTest, RejectsBadRecords) {
  EXPECT_FALSE(AttachmentStore::FromJson("{").ok());
  EXPECT_FALSE(
      AttachmentStore::FromJson("{\"version\": 2, \"volume_id\": \"x\", \"mode\": \"fuse\"}").ok());
  EXPECT_FALSE(AttachmentStore::FromJson("{\"version\": 1}").ok());
}

}  // namespace
}  // namespace syncblock::csi
