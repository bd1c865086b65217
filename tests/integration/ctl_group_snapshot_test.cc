// `syncblock ctl snapshot group create|show|delete` against a real local
// cluster: the JSON shape (with the hold time), idempotence by name, and
// clear errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "tests/support/test_util.h"

namespace syncblock::testing {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

class CtlGroupSnapshotTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    auto up = RunCommand(SyncblockBinary() + " local up --no-csi --dir " + dir_->path(),
                         std::chrono::seconds(120));
    up_ok_ = up.exit_code == 0;
    up_output_ = up.output;
  }
  static void TearDownTestSuite() {
    RunCommand(SyncblockBinary() + " local down --dir " + dir_->path(), std::chrono::seconds(60));
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(up_ok_) << up_output_; }

  static CommandResult Ctl(const std::string& args) {
    return RunCommand(SyncblockBinary() + " ctl --cluster " + dir_->path() + " " + args,
                      std::chrono::seconds(180));
  }
  static json CtlJson(const std::string& args) {
    auto r = RunCommand(
        SyncblockBinary() + " ctl --cluster " + dir_->path() + " " + args + " -o json 2>/dev/null",
        std::chrono::seconds(180));
    EXPECT_EQ(r.exit_code, 0) << args << ": " << r.output;
    try {
      return json::parse(r.output);
    } catch (const json::exception&) {
      ADD_FAILURE() << args << ": not JSON: " << r.output;
      return json::object();
    }
  }

  static TempDir* dir_;
  static bool up_ok_;
  static std::string up_output_;
};

TempDir* CtlGroupSnapshotTest::dir_ = nullptr;
bool CtlGroupSnapshotTest::up_ok_ = false;
std::string CtlGroupSnapshotTest::up_output_;

TEST_F(CtlGroupSnapshotTest, CreateShowDelete) {
  for (const char* v : {"ga", "gb", "gc"}) {
    ASSERT_EQ(Ctl(std::string("volume create ") + v + " --size 8M").exit_code, 0);
  }
  json g = CtlJson("snapshot group create nightly --volumes ga,gb");
  EXPECT_EQ(g["id"], "grp.2.nightly");
  ASSERT_EQ(g["snapshots"].size(), 2u);
  EXPECT_EQ(g["snapshots"][0]["id"], "ga@grp.2.nightly");
  EXPECT_EQ(g["snapshots"][1]["id"], "gb@grp.2.nightly");
  EXPECT_TRUE(g.contains("hold_us")) << g.dump();
  EXPECT_TRUE(g["ready_to_use"].get<bool>());

  // The same name and volumes: the same group, not cut again.
  json again = CtlJson("snapshot group create nightly --volumes gb,ga");
  EXPECT_EQ(again["id"], "grp.2.nightly");
  EXPECT_EQ(again["creation_time"], g["creation_time"]);
  EXPECT_FALSE(again.contains("hold_us"));
  auto other = Ctl("snapshot group create nightly --volumes ga,gc");
  EXPECT_EQ(other.exit_code, 1);
  EXPECT_THAT(other.output, HasSubstr("exists with volumes ga,gb"));

  auto text = Ctl("snapshot group show grp.2.nightly");
  EXPECT_EQ(text.exit_code, 0) << text.output;
  EXPECT_THAT(text.output, HasSubstr("group snapshot grp.2.nightly: 2 volume(s), ready"));
  EXPECT_THAT(text.output, HasSubstr("ga@grp.2.nightly"));
  // Members are ordinary snapshots.
  EXPECT_EQ(CtlJson("snapshot show gb@grp.2.nightly")["volume"], "gb");

  EXPECT_EQ(Ctl("snapshot group delete grp.2.nightly").exit_code, 0);
  EXPECT_EQ(Ctl("snapshot group delete grp.2.nightly").exit_code, 0);
  EXPECT_EQ(Ctl("snapshot group show grp.2.nightly").exit_code, 3);  // not found
  EXPECT_EQ(Ctl("snapshot show gb@grp.2.nightly").exit_code, 3);
}

TEST_F(CtlGroupSnapshotTest, ErrorsAreClear) {
  ASSERT_EQ(Ctl("volume create gd --size 8M").exit_code, 0);
  auto no_volumes = Ctl("snapshot group create g");
  EXPECT_EQ(no_volumes.exit_code, 2);
  EXPECT_THAT(no_volumes.output, HasSubstr("--volumes A,B,... is required"));
  auto twice = Ctl("snapshot group create g --volumes gd,gd");
  EXPECT_EQ(twice.exit_code, 2);
  EXPECT_THAT(twice.output, HasSubstr("volume gd is named twice"));
  auto unknown = Ctl("snapshot group create g --volumes gd,nope");
  EXPECT_EQ(unknown.exit_code, 3);
  EXPECT_THAT(unknown.output, HasSubstr("nope"));
  auto bad_id = Ctl("snapshot group show not-a-group");
  EXPECT_EQ(bad_id.exit_code, 2);
  EXPECT_THAT(bad_id.output, HasSubstr("is not grp.N.NAME"));
}

}  // namespace
}  // namespace syncblock::testing
