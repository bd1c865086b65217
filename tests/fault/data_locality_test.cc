// dataLocality after a failover (csi/primary_placer.h): the primary left the
// consumer's node when that node died; once it is back and resynced, the
// controller's pass moves the primary home by a planned promotion, with the
// data intact. The pass is run here as the CSI controller runs it.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "csi/csi_constants.h"
#include "csi/primary_placer.h"
#include "csi/publications.h"
#include "tests/fault/fault_test_base.h"

namespace syncblock::testing {
namespace {

class DataLocalityTest : public FaultTestBase {};

TEST_F(DataLocalityTest, ThePrimaryGoesBackToItsConsumerOnceInSync) {
  LocalCluster c(3, "--no-csi --io-timeout-ms 10000");
  ASSERT_TRUE(c.ok()) << c.up_output();
  ASSERT_EQ(c.Ctl("volume create v --size 64M --replicas 3 --nodes node-1,node-2,node-3").exit_code,
            0);
  std::shared_ptr<repl::StorageCluster> cluster = c.StorageClient();
  // What CreateVolume with dataLocality and ControllerPublishVolume to node-1
  // record.
  csi::Publication pub{"node-1", false, csi::AccessMode::SINGLE_NODE_WRITER, false};
  ASSERT_TRUE(
      cluster
          ->SetAttributes("v",
                          {{absl::StrCat(csi::kAttrParamPrefix, csi::kParamDataLocality), "true"},
                           {csi::PublicationKey("node-1"), csi::EncodePublication(pub)}},
                          {})
          .ok());
  csi::PrimaryPlacer placer([cluster] { return cluster; });
  EXPECT_EQ(placer.RunOnce(), 0);
  EXPECT_EQ(placer.RunOnce(), 0) << "already at home";

  ASSERT_EQ(QemuIo(c.Export("v"), "-c 'write -P 0x5a 0 1M'"), 0);
  ASSERT_TRUE(c.Kill("node-1"));
  ASSERT_TRUE(WaitFor(
      [&] {
        nlohmann::json v = c.CtlJson("volume show v");
        return v.is_object() && v.value("primary", "node-1") != "node-1" && !c.Export("v").empty();
      },
      std::chrono::seconds(60)));
  EXPECT_EQ(placer.RunOnce(), 0) << "the consumer's node is away";
  ASSERT_EQ(QemuIo(c.Export("v"), "-c 'write -P 0x6b 1M 1M'"), 0);

  ASSERT_TRUE(c.Start("node-1"));
  ASSERT_TRUE(c.WaitInSync("v"));
  int moved = 0;
  ASSERT_TRUE(WaitFor(
      [&] {
        moved += placer.RunOnce();
        return moved > 0;
      },
      std::chrono::seconds(60)))
      << c.Ctl("volume show v").output;
  EXPECT_EQ(moved, 1);
  nlohmann::json v = c.CtlJson("volume show v");
  EXPECT_EQ(v.value("primary", ""), "node-1") << v.dump(2);
  EXPECT_NE(v.value("last_failover_reason", "").find("dataLocality"), std::string::npos)
      << v.dump(2);
  std::string out;
  ASSERT_TRUE(WaitFor([&] { return !c.Export("v").empty(); }, std::chrono::seconds(30)));
  EXPECT_EQ(QemuIo(c.Export("v"), "-c 'read -P 0x5a 0 1M' -c 'read -P 0x6b 1M 1M'", &out), 0)
      << out;
  EXPECT_EQ(out.find("Pattern verification failed"), std::string::npos) << out;
  ExpectIdentical(c, "v");
}

}  // namespace
}  // namespace syncblock::testing
