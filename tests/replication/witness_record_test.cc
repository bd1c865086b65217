// WitnessRecord (replication/engine/witness_record.h): what the primary may
// count on is always a subset of what the witness holds or will hold.
#include "replication/engine/witness_record.h"

#include <gtest/gtest.h>

namespace syncblock::repl {
namespace {

using Set = std::set<std::string>;

TEST(WitnessRecordTest, AddedReplicasCountOnlyOnceAcknowledged) {
  WitnessRecord w;
  EXPECT_TRUE(w.ShouldSend({}, false)) << "a new witness gets a record at once";
  w.Sent(10, {"b"});
  EXPECT_EQ(w.confirmed(), Set{});
  EXPECT_FALSE(w.ShouldSend({"b"}, false));
  EXPECT_TRUE(w.ShouldSend({"b"}, true));
  EXPECT_TRUE(w.Acked(10));
  EXPECT_EQ(w.confirmed(), Set{"b"});
  EXPECT_FALSE(w.Acked(10)) << "nothing changes twice";
}

TEST(WitnessRecordTest, DroppedReplicasStopCountingAtOnce) {
  WitnessRecord w;
  w.Sent(10, {"b", "c"});
  w.Acked(10);
  w.Sent(11, {"c"});
  EXPECT_EQ(w.confirmed(), Set{"c"}) << "b is back in sync: it must hold new writes itself";
  w.Acked(11);
  EXPECT_EQ(w.confirmed(), Set{"c"});
}

TEST(WitnessRecordTest, AnOlderAckConfirmsNothingANewerRecordReplaced) {
  WitnessRecord w;
  w.Sent(10, {"b"});
  w.Sent(11, {});
  EXPECT_FALSE(w.Acked(10)) << "the witness will hold {} once it applies 11";
  EXPECT_EQ(w.confirmed(), Set{});
  w.Sent(12, {"c"});
  EXPECT_FALSE(w.Acked(11));
  EXPECT_TRUE(w.Acked(12));
  EXPECT_EQ(w.confirmed(), Set{"c"});
}

TEST(WitnessRecordTest, ResetForgetsEverything) {
  WitnessRecord w;
  w.Sent(10, {"b"});
  w.Acked(10);
  w.Reset();
  EXPECT_EQ(w.confirmed(), Set{});
  EXPECT_TRUE(w.ShouldSend({"b"}, false));
  EXPECT_FALSE(w.Acked(10));
}

}  // namespace
}  // namespace syncblock::repl
