// The copy that starts a clone on its primary's node (replication/node/
// clone_copy.h), against real replica stores in a temporary directory: the
// clone reads exactly the snapshot, and stays sparse (holes and zeros are not
// written), whatever the volume's size.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>

#include "replication/node/clone_copy.h"
#include "replication/store/replica_store.h"
#include "tests/support/test_util.h"

namespace syncblock::repl {
namespace {

using ::syncblock::testing::TempDir;

Manifest MakeManifest(const std::string& id, uint64_t size) {
  Manifest m;
  m.volume_id = id;
  m.size_bytes = size;
  m.primary_node_id = "node-1";
  m.members = {{"node-1", "", "", "", "z"}};
  m.data_generation = "g-" + id;
  return m;
}

uint64_t AllocatedBytes(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_blocks) * 512 : 0;
}

TEST(CloneCopyTest, CopiesTheSnapshotNotTheLiveDataAndStaysSparse) {
  constexpr uint64_t kSize = 8ull << 30;  // sparse: costs nothing unwritten
  TempDir tmp;
  auto source = ReplicaStore::Create(tmp.Join("src"), MakeManifest("src", kSize));
  ASSERT_TRUE(source.ok()) << source.status();
  std::string data(1 << 20, '\x5a');
  ASSERT_TRUE((*source)->Write(0, data.data(), data.size()).ok());
  ASSERT_TRUE((*source)->Write(5ull << 30, data.data(), data.size()).ok());
  std::string zeros(1 << 20, '\0');
  ASSERT_TRUE((*source)->Write(3ull << 30, zeros.data(), zeros.size()).ok());  // allocated zeros

  SnapshotRecord record;
  record.name = "s";
  record.size_bytes = kSize;
  record.seq = 1;
  ASSERT_TRUE((*source)->snapshots().Create(record).ok());
  // After the cut: not in the snapshot, so not in the clone.
  std::string later(64 << 10, '\x77');
  ASSERT_TRUE((*source)->Write(0, later.data(), later.size()).ok());
  ASSERT_TRUE((*source)->Write(7ull << 30, later.data(), later.size()).ok());

  auto dest = ReplicaStore::Create(tmp.Join("dst"), MakeManifest("dst", kSize + (1 << 20)));
  ASSERT_TRUE(dest.ok()) << dest.status();
  auto stats = CopySnapshotInto((*source)->snapshots(), "s", kSize, **dest);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->bytes_written, 2u << 20);
  // Only the data was read: the holes of an 8 GiB volume were skipped.
  EXPECT_LE(stats->bytes_read, 4u << 20);
  EXPECT_LE(AllocatedBytes(tmp.Join("dst") + "/data"), 3u << 20);

  std::string got(1 << 20, '\0');
  ASSERT_TRUE((*dest)->Read(0, got.data(), got.size()).ok());
  EXPECT_EQ(got, data);
  ASSERT_TRUE((*dest)->Read(5ull << 30, got.data(), got.size()).ok());
  EXPECT_EQ(got, data);
  ASSERT_TRUE((*dest)->Read(7ull << 30, got.data(), got.size()).ok());
  EXPECT_EQ(got, zeros);
  ASSERT_TRUE((*dest)->Read(kSize, got.data(), got.size()).ok());  // the extra: zeros
  EXPECT_EQ(got, zeros);

  EXPECT_FALSE(CopySnapshotInto((*source)->snapshots(), "nope", kSize, **dest).ok());
}

}  // namespace
}  // namespace syncblock::repl
