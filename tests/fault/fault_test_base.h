// What the fault tests share: a fixture that skips without the real NBD
// clients, qemu-io against a volume's URI, the roles of a volume's replicas,
// and the check that its replicas converged (in sync, `ctl verify` identical).
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "tests/support/local_cluster.h"

namespace syncblock::testing {

class FaultTestBase : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* tool : {"qemu-io", "nbdcopy"}) {
      if (!HaveTool(tool)) GTEST_SKIP() << tool << " is not installed";
    }
  }

  static int QemuIo(const std::string& uri, const std::string& cmds,
                    std::string* output = nullptr) {
    CommandResult r = RunCommand("qemu-io -f raw '" + uri + "' " + cmds, std::chrono::seconds(180));
    if (output) *output = r.output;
    return r.exit_code;
  }

  // The node id of the volume's primary and of its secondaries.
  static void Roles(const LocalCluster& c, const std::string& volume, std::string* primary,
                    std::vector<std::string>* secondaries) {
    nlohmann::json v = c.CtlJson("volume show " + volume);
    ASSERT_TRUE(v.is_object());
    *primary = v["primary"].get<std::string>();
    for (const auto& r : v["replicas"]) {
      if (r["node"] != *primary) secondaries->push_back(r["node"].get<std::string>());
    }
  }

  // Every 64 KiB block whose index is a line of the file `acked` holds
  // pattern index % 250 + 1: what a writer wrote there and saw acknowledged.
  static void ExpectAcknowledgedBlocks(const std::string& uri, const std::string& acked) {
    std::set<int> indexes;
    std::ifstream in(acked);
    for (int i; in >> i;) indexes.insert(i);
    ASSERT_FALSE(indexes.empty());
    std::string reads;
    for (int i : indexes) {
      reads +=
          " -c 'read -P " + std::to_string(i % 250 + 1) + " " + std::to_string(i * 65536) + " 64k'";
    }
    std::string out;
    EXPECT_EQ(QemuIo(uri, reads, &out), 0) << out;
    EXPECT_EQ(out.find("Pattern verification failed"), std::string::npos) << out;
  }

  static void ExpectIdentical(const LocalCluster& c, const std::string& volume) {
    ASSERT_TRUE(c.WaitInSync(volume)) << c.Ctl("volume show " + volume).output;
    nlohmann::json v = c.CtlJson("verify " + volume);
    ASSERT_TRUE(v.is_object());
    EXPECT_TRUE(v["identical"].get<bool>()) << v.dump();
  }
};

}  // namespace syncblock::testing
