// A witness whose replica directory is gone (a wiped or replaced node) is
// created again by its primary's hello (create_if_missing). Until the
// primary's record reaches it, it must not vote for a data replica that
// may have missed writes acknowledged with the lost record's help
// (replication/doc/failover.md, "Witness").
#include <gtest/gtest.h>

#include <string>

#include "replication/node/storage_node.h"
#include "tests/support/fake_clock.h"
#include "tests/support/test_util.h"

namespace syncblock::repl {
namespace {

using syncblock::testing::TempDir;

TEST(WitnessRecreatedTest, AWitnessMadeByAHelloVotesForNoReplicaButItsPrimary) {
  TempDir dir;
  StorageNodeOptions opts;
  opts.node_id = "node-w";
  opts.data_dir = dir.Join("data");
  syncblock::testing::FakeClock clock;
  opts.engine.clock = &clock;
  StorageNode node(opts);

  HelloRequest hello;
  hello.volume_id = "vol";
  hello.epoch = 7;
  hello.primary_node_id = "node-p";
  hello.members = {{"node-p", "", "127.0.0.1:1", "", ""},
                   {"node-s", "", "127.0.0.1:2", "", ""},
                   {"node-w", "", "127.0.0.1:3", "", "", /*witness=*/true}};
  hello.size_bytes = 64 << 20;
  hello.region_size = 64 << 10;
  auto created = node.CreateReplicaFor(hello);
  ASSERT_TRUE(created.ok()) << created.status();
  std::shared_ptr<Replica> witness = *created;
  ASSERT_TRUE(witness->witness());

  // The primary is lost before its record arrives: the witness's promise
  // runs out.
  clock.Advance(opts.engine.lease_duration * 2);
  // The record it lost may have named node-s: until the primary says
  // otherwise, it does.
  EXPECT_EQ(witness->manifest().outdated, std::set<std::string>{"node-s"});
  auto vote = witness->AcceptEpoch(8, "node-s", {});
  EXPECT_FALSE(vote.ok()) << "a witness with an empty record voted for node-s";
  if (!vote.ok()) {
    EXPECT_NE(vote.status().message().find("records that"), std::string::npos) << vote.status();
  }
  // Its primary is no outdated replica.
  auto primary = witness->AcceptEpoch(7, "node-p", {});
  EXPECT_TRUE(primary.ok()) << primary.status();
}

}  // namespace
}  // namespace syncblock::repl
