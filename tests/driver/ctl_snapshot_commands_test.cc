// `syncblock ctl snapshot ...`, `volume create --from-...` and `volume expand`
// argument handling: malformed snapshot ids and conflicting flags are usage
// errors (exit 2) found before any storage node is contacted (the address
// given here has nothing listening).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "driver/ctl_commands.h"
#include "driver/ctl_dispatch.h"

namespace syncblock::driver {
namespace {

using ::testing::HasSubstr;

struct Outcome {
  int code;
  std::string out;
  std::string err;
};

Outcome Ctl(std::vector<std::string> args) {
  std::vector<CtlCommand> table = VolumeCtlCommands();
  auto snapshots = SnapshotCtlCommands();
  table.insert(table.end(), snapshots.begin(), snapshots.end());
  auto groups = GroupSnapshotCtlCommands();
  table.insert(table.end(), groups.begin(), groups.end());
  args.insert(args.begin(),
              {"ctl", "--storage-nodes", "127.0.0.1:1", "--timeout-ms", "500", "--insecure"});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  std::ostringstream out, err;
  int code = DispatchCtl(table, static_cast<int>(argv.size()), argv.data(), out, err);
  return {code, out.str(), err.str()};
}

TEST(CtlSnapshotCommandsTest, MalformedSnapshotIdsAreUsageErrors) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"snapshot", "delete", "vol"},
           {"snapshot", "show", "@name"},
           {"snapshot", "verify", "vol@"},
           {"snapshot", "diff", "vol@a", "b"},
           {"volume", "create", "c", "--size", "1G", "--from-snapshot", "vol"}}) {
    auto r = Ctl(args);
    EXPECT_EQ(r.code, 2) << args[1] << " " << args[2] << ": " << r.err;
    EXPECT_THAT(r.err, HasSubstr("VOLUME@NAME"));
  }
}

TEST(CtlSnapshotCommandsTest, ArgumentCountsAndFlags) {
  EXPECT_EQ(Ctl({"snapshot", "create", "vol"}).code, 2);
  EXPECT_EQ(Ctl({"snapshot", "diff", "v@a", "v@b", "v@c"}).code, 2);
  auto both = Ctl(
      {"volume", "create", "c", "--size", "1G", "--from-volume", "a", "--from-snapshot", "a@s"});
  EXPECT_EQ(both.code, 2);
  EXPECT_THAT(both.err, HasSubstr("not both"));
  EXPECT_EQ(Ctl({"volume", "create", "c"}).code, 2);  // no size, no source
  auto expand = Ctl({"volume", "expand", "c"});
  EXPECT_EQ(expand.code, 2);
  EXPECT_THAT(expand.err, HasSubstr("--size"));
}

TEST(CtlSnapshotCommandsTest, HelpListsTheSnapshotCommands) {
  auto r = Ctl({"snapshot", "--help"});
  EXPECT_EQ(r.code, 0);
  for (const char* c : {"snapshot create", "snapshot delete", "snapshot list", "snapshot show",
                        "snapshot diff", "snapshot verify", "snapshot group create",
                        "snapshot group delete", "snapshot group show"}) {
    EXPECT_THAT(r.out, HasSubstr(c));
  }
  EXPECT_THAT(Ctl({"volume", "create", "--help"}).out, HasSubstr("--from-snapshot"));
}

// With a well-formed request the command does reach for the cluster: here
// nothing answers, which is "unavailable" (exit 4), not a usage error.
TEST(CtlSnapshotCommandsTest, WellFormedRequestsReachTheCluster) {
  auto r = Ctl({"snapshot", "show", "vol@s"});
  EXPECT_EQ(r.code, kExitUnavailable) << r.err;
  EXPECT_EQ(Ctl({"snapshot", "group", "show", "grp.2.nightly"}).code, kExitUnavailable);
}

// A group id that is not grp.N.NAME and a create without --volumes are the
// user's typos, found before any call.
TEST(CtlSnapshotCommandsTest, GroupUsageErrors) {
  EXPECT_EQ(Ctl({"snapshot", "group", "show", "nightly"}).code, 2);
  EXPECT_EQ(Ctl({"snapshot", "group", "delete", "grp.0.x"}).code, 2);
  auto no_volumes = Ctl({"snapshot", "group", "create", "nightly"});
  EXPECT_EQ(no_volumes.code, 2);
  EXPECT_THAT(no_volumes.err, HasSubstr("--volumes"));
}

}  // namespace
}  // namespace syncblock::driver
