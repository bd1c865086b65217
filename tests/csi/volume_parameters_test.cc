#include "csi/volume_parameters.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <set>
#include <vector>

#include "replication/store/manifest.h"
#include "replication/types/async_policy.h"

namespace syncblock::csi {
namespace {

TEST(VolumeParametersTest, DefaultsWhenEmpty) {
  auto p = ParseVolumeParameters({});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->replicas, 3);
  EXPECT_EQ(p->sync_mode, "sync");
  EXPECT_EQ(p->fs_type, "ext4");
  EXPECT_FALSE(p->data_locality);
  EXPECT_FALSE(p->zone_spread);
}

TEST(VolumeParametersTest, ParsesEveryParameter) {
  auto p = ParseVolumeParameters({{"replicas", "5"},
                                  {"syncMode", "sync"},
                                  {"fsType", "xfs"},
                                  {"dataLocality", "TRUE"},
                                  {"zoneSpread", "true"}});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->replicas, 5);
  EXPECT_EQ(p->fs_type, "xfs");
  EXPECT_TRUE(p->data_locality);
  EXPECT_TRUE(p->zone_spread);
  auto m = p->ToMap();
  EXPECT_EQ(m["replicas"], "5");
  EXPECT_EQ(m["fsType"], "xfs");
  EXPECT_EQ(m["dataLocality"], "true");
  EXPECT_EQ(m["zoneSpread"], "true");
  EXPECT_EQ(m["syncMode"], "sync");
}

TEST(VolumeParametersTest, EncryptedIsABooleanStoredOnlyWhenTrue) {
  auto on = ParseVolumeParameters({{"encrypted", "true"}});
  ASSERT_TRUE(on.ok()) << on.status();
  EXPECT_TRUE(on->encrypted);
  EXPECT_EQ(on->ToMap().at("encrypted"), "true");
  auto off = ParseVolumeParameters({{"encrypted", "false"}});
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE(off->encrypted);
  // Volumes made before the parameter existed compare equal on a re-create.
  EXPECT_EQ(off->ToMap().count("encrypted"), 0u);
  EXPECT_EQ(ParseVolumeParameters({{"encrypted", "yes"}}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(VolumeParametersTest, ReplicasOutsideOneToFiveIsInvalid) {
  for (const char* bad : {"0", "6", "-1", "three", "", "3.5"}) {
    auto p = ParseVolumeParameters({{"replicas", bad}});
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_TRUE(ParseVolumeParameters({{"replicas", "1"}}).ok());
}

TEST(VolumeParametersTest, SnapshotModeNeedsARemote) {
  auto p = ParseVolumeParameters({{"syncMode", "snapshot"}});
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(p.status().message().find("needs parameter remote"), std::string::npos)
      << p.status().message();
  EXPECT_EQ(ParseVolumeParameters({{"syncMode", "fast"}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  p = ParseVolumeParameters({{"syncMode", "snapshot"}, {"remote", "site-b"}});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->sync_mode, "snapshot");
  EXPECT_EQ(p->async_replicas, 0);  // the replicas here are synchronous
  EXPECT_EQ(p->remote.remote, "site-b");
  EXPECT_EQ(p->ToMap().at("syncMode"), "snapshot");
}

TEST(VolumeParametersTest, RemoteSyncParametersAreParsedAndNormalized) {
  auto p = ParseVolumeParameters({{"syncMode", "snapshot"},
                                  {"remote", "site-b"},
                                  {"remoteInterval", "5m"},
                                  {"remoteKeep", "7"},
                                  {"remoteRate", "50Mi"},
                                  {"remoteTarget", "dr-data"}});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->remote.interval, std::chrono::seconds(300));
  EXPECT_EQ(p->remote.keep, 7);
  EXPECT_EQ(p->remote.rate_bytes_per_second, uint64_t{50} << 20);
  EXPECT_EQ(p->remote.target, "dr-data");
  auto m = p->ToMap();
  EXPECT_EQ(m["remote"], "site-b");
  EXPECT_EQ(m["remoteInterval"], "300s");
  EXPECT_EQ(m["remoteKeep"], "7");
  EXPECT_EQ(m["remoteRate"], "52428800");
  EXPECT_EQ(m["remoteTarget"], "dr-data");
  // Normalized: another spelling of the same StorageClass is the same map.
  auto same = ParseVolumeParameters({{"syncMode", "snapshot"},
                                     {"remote", "site-b"},
                                     {"remoteInterval", "300"},
                                     {"remoteKeep", "7"},
                                     {"remoteRate", "52428800"},
                                     {"remoteTarget", "dr-data"}});
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ(same->ToMap(), m);
  // Only what is given: a volume without a remote maps as before.
  EXPECT_EQ(ParseVolumeParameters({})->ToMap().count("remote"), 0u);
}

TEST(VolumeParametersTest, ARemoteGoesWithEverySyncMode) {
  for (const char* mode : {"sync", "async"}) {
    auto p = ParseVolumeParameters({{"syncMode", mode}, {"remote", "site-b"}});
    ASSERT_TRUE(p.ok()) << mode << ": " << p.status();
    EXPECT_EQ(p->remote.remote, "site-b");
  }
  auto p = ParseVolumeParameters({{"remote", "site-b"}});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->sync_mode, "sync");
}

TEST(VolumeParametersTest, RemoteSyncParametersAreCheckedWithPreciseErrors) {
  struct Case {
    std::map<std::string, std::string> params;
    const char* says;
  };
  for (const auto& c : std::vector<Case>{
           {{{"remoteInterval", "30s"}}, "go with remote"},
           {{{"remoteKeep", "3"}}, "go with remote"},
           {{{"remoteTarget", "x"}}, "go with remote"},
           {{{"remote", ""}}, "parameter remote"},
           {{{"remote", "Site_B"}}, "parameter remote"},
           {{{"remote", "r"}, {"remoteInterval", "5s"}}, "parameter remoteInterval"},
           {{{"remote", "r"}, {"remoteInterval", "2d"}}, "parameter remoteInterval"},
           {{{"remote", "r"}, {"remoteKeep", "0"}}, "parameter remoteKeep"},
           {{{"remote", "r"}, {"remoteKeep", "101"}}, "parameter remoteKeep"},
           {{{"remote", "r"}, {"remoteRate", "50MB"}}, "parameter remoteRate"},
           {{{"remote", "r"}, {"remoteRate", "10"}}, "parameter remoteRate"},
           {{{"remote", "r"}, {"remoteTarget", ""}}, "parameter remoteTarget"},
           {{{"remote", "r"}, {"remoteTarget", "a/b"}}, "parameter remoteTarget"},
           {{{"remote", "r"}, {"remoteTarget", ".hidden"}}, "parameter remoteTarget"},
           {{{"syncMode", "snapshot"}, {"remoteKeep", "3"}}, "go with remote"},
       }) {
    auto p = ParseVolumeParameters(c.params);
    ASSERT_FALSE(p.ok()) << c.says;
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(p.status().message().find(c.says), std::string::npos) << p.status();
  }
  EXPECT_TRUE(ParseVolumeParameters({{"remote", "r"}, {"remoteRate", "0"}}).ok());
}

TEST(VolumeParametersTest, AsyncModeHasOneAsynchronousReplicaByDefaultAndItsLagBounds) {
  auto p = ParseVolumeParameters({{"syncMode", "async"}});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->async_replicas, 1);
  EXPECT_TRUE(p->lag_attributes.empty());
  EXPECT_EQ(p->ToMap()["asyncReplicas"], "1");

  p = ParseVolumeParameters({{"syncMode", "async"},
                             {"replicas", "4"},
                             {"asyncReplicas", "2"},
                             {"maxLagMs", "500"},
                             {"maxLagBytes", "8388608"},
                             {"lagPolicy", "pull-ahead"}});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->async_replicas, 2);
  EXPECT_EQ(p->lag_attributes.at(repl::kAttrMaxLagMs), "500");
  EXPECT_EQ(p->lag_attributes.at(repl::kAttrMaxLagBytes), "8388608");
  EXPECT_EQ(p->lag_attributes.at(repl::kAttrLagPolicy), "pull-ahead");
  auto m = p->ToMap();
  EXPECT_EQ(m["maxLagMs"], "500");
  EXPECT_EQ(m["lagPolicy"], "pull-ahead");
  // A synchronous volume's map is what it was before async replicas existed.
  EXPECT_EQ(ParseVolumeParameters({})->ToMap().count("asyncReplicas"), 0u);
}

TEST(VolumeParametersTest, AsyncParametersAreCheckedWithPreciseErrors) {
  struct Case {
    std::map<std::string, std::string> params;
    const char* says;
  };
  for (const auto& c : std::vector<Case>{
           {{{"asyncReplicas", "1"}}, "go with syncMode=async"},
           {{{"lagPolicy", "throttle"}}, "go with syncMode=async"},
           {{{"syncMode", "async"}, {"replicas", "1"}}, "must be 1 to 0"},
           {{{"syncMode", "async"}, {"asyncReplicas", "3"}}, "the primary is synchronous"},
           {{{"syncMode", "async"}, {"asyncReplicas", "x"}}, "must be a number"},
           {{{"syncMode", "async"}, {"maxLagMs", "soon"}}, "async.max-lag-ms"},
           {{{"syncMode", "async"}, {"lagPolicy", "drop"}}, "throttle"},
       }) {
    auto p = ParseVolumeParameters(c.params);
    ASSERT_FALSE(p.ok()) << c.says;
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(p.status().message().find(c.says), std::string::npos) << p.status();
  }
}

TEST(VolumeParametersTest, UnknownKeysAreInvalidButSidecarKeysAreIgnored) {
  auto bad = ParseVolumeParameters({{"replica", "3"}});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("replica"), std::string::npos);
  auto ok = ParseVolumeParameters(
      {{"csi.storage.k8s.io/pvc/name", "data"}, {"csi.storage.k8s.io/pvc/namespace", "default"}});
  EXPECT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->ToMap().size(), 5u);
}

TEST(VolumeParametersTest, BadBooleansAndFilesystemsAreInvalid) {
  EXPECT_FALSE(ParseVolumeParameters({{"dataLocality", "yes"}}).ok());
  EXPECT_FALSE(ParseVolumeParameters({{"zoneSpread", "1"}}).ok());
  EXPECT_FALSE(ParseVolumeParameters({{"fsType", "btrfs"}}).ok());
}

TEST(VolumeParametersTest, MountFsTypeFillsInAndMustAgree) {
  auto from_cap = ParseVolumeParameters({}, "xfs");
  ASSERT_TRUE(from_cap.ok());
  EXPECT_EQ(from_cap->fs_type, "xfs");
  EXPECT_TRUE(ParseVolumeParameters({{"fsType", "xfs"}}, "xfs").ok());
  EXPECT_EQ(ParseVolumeParameters({{"fsType", "ext4"}}, "xfs").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseVolumeParameters({}, "vfat").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(CapacityTest, DefaultIsOneGiB) { EXPECT_EQ(*ResolveCapacity(0, 0), int64_t{1} << 30); }

TEST(CapacityTest, RequiredIsRoundedUpTo4K) {
  EXPECT_EQ(*ResolveCapacity(1, 0), 4096);
  EXPECT_EQ(*ResolveCapacity(4096, 0), 4096);
  EXPECT_EQ(*ResolveCapacity(4097, 0), 8192);
  EXPECT_EQ(*ResolveCapacity(10 << 20, 10 << 20), 10 << 20);
}

TEST(CapacityTest, LimitIsHonoured) {
  // Rounding up would pass the limit: no 4 KiB multiple fits.
  EXPECT_EQ(ResolveCapacity(4097, 5000).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(ResolveCapacity(8192, 4096).status().code(), absl::StatusCode::kOutOfRange);
  // Only a limit: the default, shrunk to fit.
  EXPECT_EQ(*ResolveCapacity(0, 1 << 20), 1 << 20);
  EXPECT_EQ(*ResolveCapacity(0, 10000), 8192);
  EXPECT_EQ(ResolveCapacity(0, 100).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(*ResolveCapacity(0, int64_t{4} << 30), int64_t{1} << 30);
}

TEST(CapacityTest, NegativeBoundsAreInvalid) {
  EXPECT_EQ(ResolveCapacity(-1, 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ResolveCapacity(0, -1).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(CapacityTest, FitsChecksBothBounds) {
  EXPECT_TRUE(CapacityFits(8192, 8192, 0));
  EXPECT_TRUE(CapacityFits(8192, 4097, 8192));
  EXPECT_FALSE(CapacityFits(4096, 8192, 0));
  EXPECT_FALSE(CapacityFits(8192, 0, 4096));
}

TEST(VolumeNameTest, RequiredAndWithoutControlCharacters) {
  EXPECT_TRUE(ValidateVolumeName("pvc-1234").ok());
  EXPECT_TRUE(ValidateVolumeName("a name with spaces\tand tab").ok());
  EXPECT_EQ(ValidateVolumeName("").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateVolumeName(std::string("a\x01z")).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateVolumeName("a\xc2\x85z").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateVolumeName(std::string(129, 'a')).code(), absl::StatusCode::kInvalidArgument);
}

TEST(VolumeIdTest, KubernetesNamesAreUsedAsIs) {
  EXPECT_EQ(VolumeIdForName("pvc-0f8e3a52-1c9d-4b8e-9a57-2f1c6d3e4b5a"),
            "pvc-0f8e3a52-1c9d-4b8e-9a57-2f1c6d3e4b5a");
}

TEST(VolumeIdTest, OtherNamesAreHashedDeterministically) {
  std::string a = VolumeIdForName("Sanity-Volume/1");
  EXPECT_EQ(a.rfind("sb-", 0), 0u) << a;
  EXPECT_EQ(a.size(), 3u + 32u);
  EXPECT_EQ(a, VolumeIdForName("Sanity-Volume/1"));
  EXPECT_NE(a, VolumeIdForName("Sanity-Volume/2"));
  // A name that looks like a hashed ID is hashed too, so the forms never meet.
  EXPECT_NE(VolumeIdForName(a), a);
  EXPECT_NE(VolumeIdForName(std::string(64, 'a')), std::string(64, 'a'));
  EXPECT_NE(VolumeIdForName("-leading-dash"), "-leading-dash");
}

TEST(VolumeIdTest, EveryIdIsAValidStorageVolumeId) {
  std::set<std::string> ids;
  for (const std::string name : {"pvc-1", "UPPER", "with space", "x/y", "sb-1", "é", "a.b"}) {
    std::string id = VolumeIdForName(name);
    EXPECT_TRUE(repl::ValidVolumeId(id)) << name << " -> " << id;
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 7u);
}

}  // namespace
}  // namespace syncblock::csi
