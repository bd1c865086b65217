// The VolumeCondition ControllerGetVolume and ListVolumes give (ConditionOf):
// healthy with every replica in sync and a primary serving; "failing over"
// while the primary named by the replicas does not serve (it died and the
// replicas have not elected the next yet); each replica not in sync named.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "csi/volume_view_csi.h"

namespace syncblock::csi {
namespace {

using ::testing::HasSubstr;

repl::VolumeView Healthy() {
  repl::VolumeView v;
  v.id = "v";
  v.epoch = 3;
  v.primary = "node-1";
  v.nbd_uri = "nbd://127.0.0.1:7402/v";
  v.serving = true;
  for (const char* n : {"node-1", "node-2", "node-3"}) {
    repl::ReplicaView r;
    r.node = n;
    r.state = "in_sync";
    v.replicas.push_back(r);
  }
  return v;
}

TEST(VolumeConditionTest, HealthyVolume) {
  auto c = ConditionOf(Healthy());
  EXPECT_FALSE(c.abnormal());
  EXPECT_EQ(c.message(), "3 of 3 replicas in sync, primary on node node-1");
}

TEST(VolumeConditionTest, NoServingPrimaryIsFailingOver) {
  repl::VolumeView v = Healthy();
  v.nbd_uri.clear();
  v.serving = false;
  v.replicas[0].state = "offline";
  auto c = ConditionOf(v);
  EXPECT_TRUE(c.abnormal());
  EXPECT_THAT(c.message(),
              ::testing::StartsWith("failing over: no primary serves the volume (node-1 was "
                                    "primary at epoch 3)"));
  EXPECT_THAT(c.message(), HasSubstr("replica on node node-1 is offline"));

  // A primary that answers but has no majority's lease does not serve either.
  repl::VolumeView held = Healthy();
  held.serving = false;
  EXPECT_THAT(ConditionOf(held).message(), HasSubstr("failing over"));
}

}  // namespace
}  // namespace syncblock::csi
