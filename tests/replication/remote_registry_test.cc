// A storage node's list of remotes (replication/node/remote_registry.h).
#include "replication/node/remote_registry.h"

#include <gtest/gtest.h>

#include <fstream>
#include <vector>

#include "tests/support/test_util.h"

namespace syncblock::repl {
namespace {

namespace pb = control::v1;

pb::RemoteRecord Record(const std::string& name, int64_t at, bool deleted = false) {
  pb::RemoteRecord r;
  r.set_name(name);
  if (!deleted) r.add_storage_nodes("10.0.0.1:7400");
  r.set_volume_prefix("dr-");
  r.set_updated_unix_ms(at);
  r.set_deleted(deleted);
  return r;
}

TEST(RemoteRegistryTest, KeepsTheNewestRecordOfEachNameAcrossRestarts) {
  syncblock::testing::TempDir dir;
  const std::string path = dir.Join("remotes.json");
  {
    RemoteRegistry reg(path);
    ASSERT_TRUE(reg.Put(Record("west", 100)).ok());
    ASSERT_TRUE(reg.Put(Record("east", 100)).ok());
    auto newer = Record("west", 200);
    newer.set_storage_nodes(0, "10.0.0.2:7400");
    ASSERT_TRUE(reg.Put(newer).ok());
    // Sent late: an older record does not replace the newer one, and the
    // answer is the record kept.
    auto kept = reg.Put(Record("west", 150));
    ASSERT_TRUE(kept.ok());
    EXPECT_EQ(kept->updated_unix_ms(), 200);
  }
  RemoteRegistry again(path);
  auto all = again.List();
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name(), "east");
  EXPECT_EQ((*all)[1].name(), "west");
  EXPECT_EQ((*all)[1].storage_nodes(0), "10.0.0.2:7400");
}

TEST(RemoteRegistryTest, ADeletionIsKeptSoThatAnOlderRecordCannotComeBack) {
  syncblock::testing::TempDir dir;
  RemoteRegistry reg(dir.Join("remotes.json"));
  ASSERT_TRUE(reg.Put(Record("west", 100)).ok());
  ASSERT_TRUE(reg.Put(Record("west", 200, /*deleted=*/true)).ok());
  auto late = reg.Put(Record("west", 150));
  ASSERT_TRUE(late.ok());
  EXPECT_TRUE(late->deleted());
  // Added again, later: it is back.
  ASSERT_TRUE(reg.Put(Record("west", 300)).ok());
  auto all = reg.List();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_FALSE((*all)[0].deleted());
}

TEST(RemoteRegistryTest, BadRecordsAreRefusedAndChangeNothing) {
  syncblock::testing::TempDir dir;
  RemoteRegistry reg(dir.Join("remotes.json"));
  for (const std::string& bad :
       std::vector<std::string>{"", "West", "-west", "we st", std::string(64, 'a')}) {
    auto r = reg.Put(Record(bad, 100));
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  auto no_nodes = Record("west", 100);
  no_nodes.clear_storage_nodes();
  EXPECT_EQ(reg.Put(no_nodes).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(reg.Put(Record("west", 0)).status().code(), absl::StatusCode::kInvalidArgument);
  auto all = reg.List();
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->empty());
}

TEST(RemoteRegistryTest, ACorruptFileIsDataLossNotAnEmptyList) {
  syncblock::testing::TempDir dir;
  const std::string path = dir.Join("remotes.json");
  std::ofstream(path) << "{\"format_version\": 1, \"remotes\": [{\"name\": 5}]}";
  RemoteRegistry reg(path);
  EXPECT_EQ(reg.List().status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(reg.Put(Record("west", 100)).status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace syncblock::repl
