// `syncblock ctl` argument handling (driver/ctl_dispatch.h): command lookup,
// help, errors (one line with the next step; exit 2 usage, 3 not found,
// 4 unavailable, 1 other), flags, and where the storage node addresses come
// from.
#include "driver/ctl_dispatch.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "driver/ctl_commands.h"
#include "driver/local_cluster_file.h"
#include "tests/support/test_util.h"

namespace syncblock::driver {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

struct Outcome {
  int code;
  std::string out;
  std::string err;
};

Outcome Dispatch(const std::vector<CtlCommand>& table, std::vector<std::string> args) {
  std::vector<char*> argv;
  std::string name = "ctl";
  argv.push_back(name.data());
  for (auto& a : args) argv.push_back(a.data());
  std::ostringstream out, err;
  int code = DispatchCtl(table, static_cast<int>(argv.size()), argv.data(), out, err);
  return {code, out.str(), err.str()};
}

// A table whose commands record what they were given.
struct Recorder {
  std::vector<std::string> path;
  std::vector<std::string> args;
  bool json = false;
  bool full = false;

  std::vector<CtlCommand> Table() {
    auto record = [this](std::vector<std::string> p) {
      return [this, p](CtlContext& ctx, const std::vector<std::string>& a) {
        path = p;
        args = a;
        json = ctx.json();
        full = ctx.flags().GetBool("full");
        ctx.out() << "ran\n";
        return absl::OkStatus();
      };
    };
    return {
        MakeCtlCommand({"volume", "show"}, "NAME", "show", 1, 1, record({"volume", "show"})),
        MakeCtlCommand({"volume", "list"}, "", "list", 0, 0, record({"volume", "list"})),
        MakeCtlCommand({"resync"}, "VOLUME [NODE]", "resync", 1, 2, record({"resync"}))
            .Flag("full", "", "copy all"),
        MakeCtlCommand({"fails"}, "", "fails", 0, 0,
                       [](CtlContext&, const std::vector<std::string>&) {
                         return absl::NotFoundError("volume x not found");
                       }),
        MakeCtlCommand({"refused"}, "", "refused", 0, 0,
                       [](CtlContext&, const std::vector<std::string>&) {
                         return absl::FailedPreconditionError("a replica is\nstill copying");
                       }),
    };
  }
};

TEST(CtlDispatchTest, RunsTheMatchingCommandWithItsArguments) {
  Recorder r;
  auto o = Dispatch(r.Table(), {"volume", "show", "vol-1", "-o", "json"});
  EXPECT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.out, "ran\n");
  EXPECT_THAT(r.path, ElementsAre("volume", "show"));
  EXPECT_THAT(r.args, ElementsAre("vol-1"));
  EXPECT_TRUE(r.json);
}

TEST(CtlDispatchTest, BooleanFlagDoesNotSwallowTheNextArgument) {
  Recorder r;
  auto o = Dispatch(r.Table(), {"resync", "vol-1", "--full", "node-2"});
  EXPECT_EQ(o.code, 0) << o.err;
  EXPECT_THAT(r.args, ElementsAre("vol-1", "node-2"));
  EXPECT_TRUE(r.full);
}

TEST(CtlDispatchTest, NotFoundIsOneLineNamingWhatListsThemAndExitThree) {
  Recorder r;
  auto o = Dispatch(r.Table(), {"fails"});
  EXPECT_EQ(o.code, kExitNotFound);
  EXPECT_EQ(o.err,
            "syncblock ctl: volume x not found; `syncblock ctl volume list` lists the volumes\n");
  auto local = Dispatch(r.Table(), {"fails", "--cluster", "/tmp/sb"});
  EXPECT_THAT(local.err, HasSubstr("`syncblock ctl --cluster /tmp/sb volume list`"));
}

TEST(CtlDispatchTest, OtherErrorsAreOneLineAndExitOne) {
  Recorder r;
  auto o = Dispatch(r.Table(), {"refused"});
  EXPECT_EQ(o.code, kExitFailure);
  EXPECT_EQ(o.err, "syncblock ctl: a replica is; still copying\n");
}

TEST(CtlDispatchTest, UsageErrorsExitTwo) {
  Recorder r;
  auto unknown = Dispatch(r.Table(), {"frobnicate"});
  EXPECT_EQ(unknown.code, 2);
  EXPECT_THAT(unknown.err, StartsWith("syncblock ctl: unknown command 'frobnicate'"));
  EXPECT_EQ(Dispatch(r.Table(), {"volume", "show"}).code, 2);            // too few
  EXPECT_EQ(Dispatch(r.Table(), {"volume", "show", "a", "b"}).code, 2);  // too many
  auto flag = Dispatch(r.Table(), {"volume", "list", "--nodez", "a"});
  EXPECT_EQ(flag.code, 2);
  EXPECT_THAT(flag.err, HasSubstr("unknown flag --nodez"));
  EXPECT_EQ(Dispatch(r.Table(), {"volume", "list", "-o", "yaml"}).code, 2);
  EXPECT_EQ(Dispatch(r.Table(), {"volume", "list", "--timeout-ms"}).code, 2);  // no value
  EXPECT_EQ(Dispatch(r.Table(), {}).code, 2);
  // A usage error says where the help is.
  auto too_few = Dispatch(r.Table(), {"volume", "show"});
  EXPECT_THAT(too_few.err, HasSubstr("see `syncblock ctl volume show --help`"));
  EXPECT_EQ(std::count(too_few.err.begin(), too_few.err.end(), '\n'), 1);
  EXPECT_TRUE(r.path.empty()) << "no command may run on a usage error";
}

TEST(CtlDispatchTest, HelpAtEveryLevel) {
  Recorder r;
  auto top = Dispatch(r.Table(), {"--help"});
  EXPECT_EQ(top.code, 0);
  EXPECT_THAT(top.out, HasSubstr("volume show NAME"));
  EXPECT_THAT(top.out, HasSubstr("--storage-nodes"));
  auto group = Dispatch(r.Table(), {"volume", "--help"});
  EXPECT_EQ(group.code, 0);
  EXPECT_THAT(group.out, HasSubstr("volume list"));
  EXPECT_THAT(group.out, ::testing::Not(HasSubstr("resync")));
  auto one = Dispatch(r.Table(), {"resync", "--help"});
  EXPECT_EQ(one.code, 0);
  EXPECT_THAT(one.out, HasSubstr("usage: syncblock ctl resync VOLUME [NODE]"));
  EXPECT_THAT(one.out, HasSubstr("--full"));
  EXPECT_TRUE(r.path.empty());
}

TEST(CtlDispatchTest, RealCommandsCatchBadArgumentsBeforeConnecting) {
  std::vector<CtlCommand> table = VolumeCtlCommands();
  // Port 1 refuses connections; a usage error must come first regardless.
  auto no_size = Dispatch(table, {"volume", "create", "v", "--storage-nodes", "127.0.0.1:1"});
  EXPECT_EQ(no_size.code, 2);
  EXPECT_THAT(no_size.err, HasSubstr("--size"));
  auto bad_size = Dispatch(
      table, {"volume", "create", "v", "--size", "lots", "--storage-nodes", "127.0.0.1:1"});
  EXPECT_EQ(bad_size.code, 2);
  EXPECT_THAT(bad_size.err, HasSubstr("'lots' is not a size"));
  auto replicas = Dispatch(table, {"volume", "create", "v", "--size", "1G", "--replicas", "three",
                                   "--storage-nodes", "127.0.0.1:1"});
  EXPECT_EQ(replicas.code, 2);
}

TEST(CtlDispatchTest, UnreachableNodeIsExitFourNamingTheAddressAndWhatToCheck) {
  int port = syncblock::testing::FreePort();
  std::string address = "127.0.0.1:" + std::to_string(port);
  auto o = Dispatch(VolumeCtlCommands(), {"volume", "show", "v", "--storage-nodes", address,
                                          "--timeout-ms", "2000", "--insecure"});
  EXPECT_EQ(o.code, kExitUnavailable);
  EXPECT_THAT(o.err, StartsWith("syncblock ctl: no storage node answered"));
  EXPECT_THAT(o.err, HasSubstr(address));
  EXPECT_THAT(o.err, HasSubstr("check that the storage nodes at " + address + " run"));
  EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1);
}

TEST(CtlDispatchTest, UnreachableNodeOfALocalClusterNamesTheStartCommand) {
  syncblock::testing::TempDir dir;
  LocalCluster c;
  LocalProcess p;
  p.id = "node-2";
  p.control = "127.0.0.1:" + std::to_string(syncblock::testing::FreePort());
  c.storage.push_back(p);
  c.tls.insecure = true;
  ASSERT_TRUE(SaveCluster(dir.path(), c).ok());
  auto o = Dispatch(VolumeCtlCommands(),
                    {"volume", "list", "--cluster", dir.path(), "--timeout-ms", "2000"});
  EXPECT_EQ(o.code, kExitUnavailable) << o.err;
  EXPECT_THAT(o.err,
              HasSubstr("start it with `syncblock local start --dir " + dir.path() + " node-2`"));
  EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1);

  auto none = Dispatch(VolumeCtlCommands(), {"volume", "list", "--cluster", dir.Join("none")});
  EXPECT_EQ(none.code, kExitNotFound);
  EXPECT_THAT(none.err, HasSubstr("start one with `syncblock local up --dir " + dir.Join("none")));
}

Flags ParseFlags(std::vector<std::string> args) {
  std::vector<char*> argv;
  std::string name = "ctl";
  argv.push_back(name.data());
  for (auto& a : args) argv.push_back(a.data());
  return *Flags::Parse(static_cast<int>(argv.size()), argv.data());
}

TEST(ResolveStorageNodesTest, FlagClusterFileOrDefault) {
  EXPECT_THAT(*ResolveStorageNodes(ParseFlags({})), ElementsAre("127.0.0.1:7400"));
  EXPECT_THAT(*ResolveStorageNodes(ParseFlags({"--storage-nodes", "a:1, b:2"})),
              ElementsAre("a:1", "b:2"));

  syncblock::testing::TempDir dir;
  LocalCluster c;
  for (const char* address : {"127.0.0.1:10", "127.0.0.1:20"}) {
    LocalProcess p;
    p.id = address;
    p.control = address;
    c.storage.push_back(p);
  }
  ASSERT_TRUE(SaveCluster(dir.path(), c).ok());
  EXPECT_THAT(*ResolveStorageNodes(ParseFlags({"--cluster", dir.path()})),
              ElementsAre("127.0.0.1:10", "127.0.0.1:20"));

  auto both = ResolveStorageNodes(ParseFlags({"--cluster", dir.path(), "--storage-nodes", "a:1"}));
  EXPECT_TRUE(IsUsageError(both.status()));
  auto missing = ResolveStorageNodes(ParseFlags({"--cluster", dir.Join("nope")}));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(IsUsageError(missing.status()));
}

}  // namespace
}  // namespace syncblock::driver
