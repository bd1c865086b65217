// CSI conformance: ControllerModifyVolume (MODIFY_VOLUME) and CreateVolume's
// mutable_parameters, against the real driver and storage nodes: the spec's
// codes for invalid requests, idempotence, QoS changed live under IO with no
// IO error (visible in `ctl volume show` and the primary's /metrics), and the
// replica set grown and shrunk while the data stays readable.
#include <future>
#include <map>
#include <nlohmann/json.hpp>

#include "tests/csi/conformance_fixture.h"

namespace syncblock::csi::conformance {
namespace {

class CsiModifyTest : public CsiSnapshotTest {  // for PublishBlock()
 protected:
  grpc::Status Modify(const std::string& id, const std::map<std::string, std::string>& params) {
    ControllerModifyVolumeRequest req;
    req.set_volume_id(id);
    for (const auto& [k, v] : params) (*req.mutable_mutable_parameters())[k] = v;
    ControllerModifyVolumeResponse resp;
    return Call(&Controller::Stub::ControllerModifyVolume, req, &resp);
  }

  // `syncblock ctl volume show ID -o json`.
  nlohmann::json Show(const std::string& id) {
    auto r = RunCommand(SyncblockBinary() + " ctl volume show " + id + " --storage-nodes " +
                            StorageAddresses() + AdminTls() + " -o json",
                        std::chrono::seconds(60));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    try {
      return nlohmann::json::parse(r.output);
    } catch (const nlohmann::json::exception& e) {
      ADD_FAILURE() << e.what() << ": " << r.output;
      return {};
    }
  }

  size_t InSyncReplicas(const nlohmann::json& v) {
    size_t n = 0;
    if (!v.contains("replicas")) return 0;
    for (const auto& r : v["replicas"]) n += r.value("state", "") == "in_sync";
    return n;
  }

  // The primary's /metrics page.
  std::string PrimaryMetrics(const std::string& id) {
    std::string primary = Show(id).value("primary", "");
    for (const auto& n : *nodes_) {
      if (n.id != primary) continue;
      auto it = std::find(n.argv.begin(), n.argv.end(), "--metrics-listen");
      if (it == n.argv.end() || it + 1 == n.argv.end()) break;
      return RunCommand("curl -sf http://" + *(it + 1) + "/metrics", std::chrono::seconds(30))
          .output;
    }
    ADD_FAILURE() << "no primary for " << id;
    return "";
  }

  std::string Confirmed(const std::string& id, const std::map<std::string, std::string>& params) {
    ValidateVolumeCapabilitiesRequest req;
    req.set_volume_id(id);
    *req.add_volume_capabilities() = BlockCap(Mode::SINGLE_NODE_WRITER);
    for (const auto& [k, v] : params) (*req.mutable_mutable_parameters())[k] = v;
    ValidateVolumeCapabilitiesResponse resp;
    grpc::Status s = Call(&Controller::Stub::ValidateVolumeCapabilities, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.has_confirmed() ? "confirmed" : resp.message();
  }
};

TEST_F(CsiModifyTest, InvalidRequestsGetTheSpecsCodesAndChangeNothing) {
  auto req = CreateReq("modify-invalid", BlockCap(Mode::SINGLE_NODE_WRITER));
  (*req.mutable_parameters())["replicas"] = "1";
  (*req.mutable_mutable_parameters())["maxIops"] = "500";
  Volume v = MustCreate(req);
  ASSERT_FALSE(v.volume_id().empty());

  EXPECT_EQ(Modify("", {{"maxIops", "100"}}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Modify(v.volume_id(), {}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Modify("no-such-volume", {{"maxIops", "100"}}).error_code(),
            grpc::StatusCode::NOT_FOUND);
  struct Case {
    const char* key;
    const char* value;
  };
  for (Case c : {Case{"colour", "blue"}, Case{"maxIops", "lots"}, Case{"maxBandwidth", "1MB"},
                 Case{"burst", "-2"}, Case{"replicas", "9"}, Case{"syncMode", "async"},
                 Case{"fsType", "xfs"}}) {
    // A valid key next to the bad one must not be applied either.
    std::map<std::string, std::string> params = {{"burst", "3"}};
    params[c.key] = c.value;
    grpc::Status s = Modify(v.volume_id(), params);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.key << "=" << c.value;
    EXPECT_TRUE(absl::StrContains(s.error_message(), c.key)) << s.error_message();
  }
  EXPECT_EQ(Confirmed(v.volume_id(), {{"maxIops", "500"}}), "confirmed");
  auto qos = Show(v.volume_id())["qos"];
  EXPECT_EQ(qos.value("max_iops", 0), 500);
  EXPECT_EQ(qos.value("burst_seconds", -1.0), 0.0);  // the valid key next to a bad one: not set

  // More replicas than there are storage nodes.
  EXPECT_EQ(Modify(v.volume_id(), {{"replicas", "5"}}).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(Show(v.volume_id())["replicas"].size(), 1u);
  MustDelete(v.volume_id());
}

TEST_F(CsiModifyTest, CreateVolumeChecksAndAppliesMutableParameters) {
  auto bad = CreateReq("modify-create-bad", BlockCap(Mode::SINGLE_NODE_WRITER));
  (*bad.mutable_mutable_parameters())["maxIops"] = "-1";
  EXPECT_EQ(Code(&Controller::Stub::CreateVolume, bad), grpc::StatusCode::INVALID_ARGUMENT);
  (*bad.mutable_mutable_parameters())["maxIops"] = "10";
  (*bad.mutable_mutable_parameters())["unknownKey"] = "1";
  EXPECT_EQ(Code(&Controller::Stub::CreateVolume, bad), grpc::StatusCode::INVALID_ARGUMENT);

  auto req = CreateReq("modify-create", BlockCap(Mode::SINGLE_NODE_WRITER));
  (*req.mutable_parameters())["replicas"] = "3";
  // mutable_parameters take precedence over parameters.
  (*req.mutable_mutable_parameters())["replicas"] = "2";
  (*req.mutable_mutable_parameters())["maxBandwidth"] = "20Mi";
  (*req.mutable_mutable_parameters())["burst"] = "1";
  Volume v = MustCreate(req);
  ASSERT_FALSE(v.volume_id().empty());
  auto shown = Show(v.volume_id());
  EXPECT_EQ(shown["replicas"].size(), 2u);
  EXPECT_EQ(shown["qos"].value("max_bandwidth_bytes_per_second", 0), 20 << 20);
  EXPECT_EQ(shown["qos"].value("burst_seconds", 0.0), 1.0);
  // The same request again is the same volume.
  EXPECT_EQ(MustCreate(req).volume_id(), v.volume_id());
  MustDelete(v.volume_id());
}

TEST_F(CsiModifyTest, QosChangesLiveUnderIoWithoutAnIoError) {
  if (!HaveTool("qemu-io") || !HaveTool("curl")) GTEST_SKIP() << "needs qemu-io and curl";
  auto req = CreateReq("modify-qos", BlockCap(Mode::SINGLE_NODE_WRITER));
  (*req.mutable_parameters())["replicas"] = "2";
  (*req.mutable_mutable_parameters())["maxIops"] = "200";
  Volume v = MustCreate(req);
  ASSERT_FALSE(v.volume_id().empty());
  std::string uri = PublishBlock(v.volume_id());
  ASSERT_FALSE(uri.empty());

  // Writes under the limit, while the limit changes under them.
  std::string out;
  auto io = std::async(std::launch::async, [&] {
    std::string o;
    bool ok = QemuIo(uri, "-c 'write -P 0x5a 0 2M' -c 'read -P 0x5a 0 2M'", &o);
    return std::make_pair(ok, o);
  });
  for (const char* iops : {"1000", "50", "0", "300"}) {
    grpc::Status s = Modify(v.volume_id(), {{"maxIops", iops}, {"maxBandwidth", "8Mi"}});
    EXPECT_TRUE(s.ok()) << iops << ": " << s.error_message();
    // The same call again changes nothing and is OK.
    EXPECT_TRUE(Modify(v.volume_id(), {{"maxIops", iops}, {"maxBandwidth", "8Mi"}}).ok());
  }
  auto [ok, output] = io.get();
  EXPECT_TRUE(ok) << output;

  auto shown = Show(v.volume_id());
  EXPECT_EQ(shown["qos"].value("max_iops", 0), 300);
  EXPECT_EQ(shown["qos"].value("max_bandwidth_bytes_per_second", 0), 8 << 20);
  // Changing one key leaves the others as they are.
  ASSERT_TRUE(Modify(v.volume_id(), {{"burst", "0.5"}}).ok());
  shown = Show(v.volume_id());
  EXPECT_EQ(shown["qos"].value("max_iops", 0), 300);
  EXPECT_EQ(shown["qos"].value("burst_seconds", 0.0), 0.5);

  ASSERT_TRUE(QemuIo(uri, "-c 'read -P 0x5a 0 64k'", &out)) << out;
  std::string metrics = PrimaryMetrics(v.volume_id());
  std::string label = "{volume=\"" + v.volume_id() + "\"} ";
  EXPECT_TRUE(absl::StrContains(metrics, "syncblock_volume_qos_max_iops" + label + "300"))
      << metrics;
  EXPECT_TRUE(
      absl::StrContains(metrics, "syncblock_volume_qos_max_bandwidth_bytes" + label + "8388608"));
  EXPECT_TRUE(absl::StrContains(metrics, "syncblock_volume_qos_requests_total" + label));

  EXPECT_EQ(Unpublish(v.volume_id(), "node-1"), grpc::StatusCode::OK);
  MustDelete(v.volume_id());
}

TEST_F(CsiModifyTest, ReplicasGrowWithAFullCopyAndShrinkKeepingTheData) {
  if (!HaveTool("qemu-io")) GTEST_SKIP() << "needs qemu-io";
  auto req = CreateReq("modify-replicas", BlockCap(Mode::SINGLE_NODE_WRITER));
  (*req.mutable_parameters())["replicas"] = "1";
  Volume v = MustCreate(req);
  ASSERT_FALSE(v.volume_id().empty());
  std::string uri = PublishBlock(v.volume_id());
  std::string out;
  ASSERT_TRUE(QemuIo(uri, "-c 'write -P 0x3c 0 1M'", &out)) << out;

  ASSERT_TRUE(Modify(v.volume_id(), {{"replicas", "3"}}).ok());
  EXPECT_TRUE(Modify(v.volume_id(), {{"replicas", "3"}}).ok());  // idempotent
  nlohmann::json shown;
  EXPECT_TRUE(WaitFor(
      [&] {
        shown = Show(v.volume_id());
        return shown["replicas"].size() == 3 && InSyncReplicas(shown) == 3;
      },
      std::chrono::seconds(60)))
      << shown.dump();
  // Every replica holds the data: verify compares them.
  auto verify = RunCommand(SyncblockBinary() + " ctl verify " + v.volume_id() +
                               " --storage-nodes " + StorageAddresses() + AdminTls(),
                           std::chrono::seconds(60));
  EXPECT_EQ(verify.exit_code, 0) << verify.output;

  ASSERT_TRUE(Modify(v.volume_id(), {{"replicas", "2"}}).ok());
  shown = Show(v.volume_id());
  EXPECT_EQ(shown["replicas"].size(), 2u);
  EXPECT_TRUE(Modify(v.volume_id(), {{"replicas", "2"}}).ok());
  ASSERT_TRUE(QemuIo(uri, "-c 'read -P 0x3c 0 1M' -c 'write -P 0x3d 1M 1M'", &out)) << out;

  EXPECT_EQ(Unpublish(v.volume_id(), "node-1"), grpc::StatusCode::OK);
  MustDelete(v.volume_id());
}

// A sync to a remote: the StorageClass and mutable parameters declare it in
// the volume's attributes (what the sync and `ctl volume replication-status`
// read), a modification changes it (keeping its pairing while the target
// stays), and keys that need a declaration without one are INVALID_ARGUMENT.
TEST_F(CsiModifyTest, RemoteSyncIsDeclaredByParametersAndItsPairingGoesWithTheTarget) {
  // A remote the cluster does not know is a typo: refused, nothing made.
  auto unknown = CreateReq("modify-remote-unknown", BlockCap(Mode::SINGLE_NODE_WRITER));
  (*unknown.mutable_parameters())["remote"] = "site-x";
  EXPECT_EQ(Code(&Controller::Stub::CreateVolume, unknown), grpc::StatusCode::INVALID_ARGUMENT);
  // The remotes (nobody answers there: the cycles the controller runs fail
  // before they cut a snapshot, so the volumes can be deleted).
  for (const std::string& name : {std::string("site-b"), std::string("site-c")}) {
    auto r = RunCommand(SyncblockBinary() + " ctl remote add " + name +
                            " --remote-nodes 127.0.0.1:1 --no-check" +
                            (name == "site-c" ? " --prefix c-" : "") + " --storage-nodes " +
                            StorageAddresses() + AdminTls(),
                        std::chrono::seconds(60));
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  auto bad = CreateReq("modify-remote-bad", BlockCap(Mode::SINGLE_NODE_WRITER));
  (*bad.mutable_parameters())["syncMode"] = "snapshot";
  EXPECT_EQ(Code(&Controller::Stub::CreateVolume, bad), grpc::StatusCode::INVALID_ARGUMENT);
  bad = CreateReq("modify-remote-bad", BlockCap(Mode::SINGLE_NODE_WRITER));
  (*bad.mutable_mutable_parameters())["remoteKeep"] = "3";  // no remote anywhere
  EXPECT_EQ(Code(&Controller::Stub::CreateVolume, bad), grpc::StatusCode::INVALID_ARGUMENT);

  auto req = CreateReq("modify-remote", BlockCap(Mode::SINGLE_NODE_WRITER));
  (*req.mutable_parameters())["replicas"] = "1";
  (*req.mutable_parameters())["syncMode"] = "snapshot";
  (*req.mutable_parameters())["remote"] = "site-b";
  (*req.mutable_parameters())["remoteInterval"] = "30s";
  (*req.mutable_parameters())["remoteRate"] = "50Mi";
  // mutable_parameters take precedence over parameters.
  (*req.mutable_mutable_parameters())["remoteKeep"] = "4";
  Volume v = MustCreate(req);
  ASSERT_FALSE(v.volume_id().empty());
  EXPECT_EQ(Get(v.volume_context(), "syncMode"), "snapshot");
  EXPECT_EQ(Get(v.volume_context(), "remote"), "site-b");
  auto attributes = Show(v.volume_id())["attributes"];
  EXPECT_EQ(attributes.value("remote-sync.remote", ""), "site-b") << attributes.dump();
  EXPECT_EQ(attributes.value("remote-sync.target", ""), "dr-" + v.volume_id());
  EXPECT_EQ(attributes.value("remote-sync.interval-s", ""), "30");
  EXPECT_EQ(attributes.value("remote-sync.keep", ""), "4");
  EXPECT_EQ(attributes.value("remote-sync.rate", ""), std::to_string(50 << 20));
  const std::string pairing = attributes.value("remote-sync.pairing", "");
  EXPECT_EQ(pairing.size(), 16u) << attributes.dump();
  // A retry is the same volume, with the same pairing.
  EXPECT_EQ(MustCreate(req).volume_id(), v.volume_id());
  EXPECT_EQ(Show(v.volume_id())["attributes"].value("remote-sync.pairing", ""), pairing);

  EXPECT_EQ(Confirmed(v.volume_id(), {{"remoteKeep", "4"}}), "confirmed");
  EXPECT_NE(Confirmed(v.volume_id(), {{"remoteKeep", "5"}}), "confirmed");
  // A new schedule keeps the pairing; another target gets a new one (the
  // pairing goes with the target).
  grpc::Status s = Modify(v.volume_id(), {{"remoteKeep", "5"}});
  EXPECT_TRUE(s.ok()) << s.error_message();
  attributes = Show(v.volume_id())["attributes"];
  EXPECT_EQ(attributes.value("remote-sync.keep", ""), "5") << attributes.dump();
  EXPECT_EQ(attributes.value("remote-sync.pairing", ""), pairing);
  s = Modify(v.volume_id(), {{"remoteTarget", "far-copy"}});
  EXPECT_TRUE(s.ok()) << s.error_message();
  attributes = Show(v.volume_id())["attributes"];
  EXPECT_EQ(attributes.value("remote-sync.target", ""), "far-copy");
  EXPECT_EQ(attributes.value("remote-sync.interval-s", ""), "30");
  EXPECT_EQ(attributes.value("remote-sync.keep", ""), "5");
  EXPECT_NE(attributes.value("remote-sync.pairing", ""), pairing);
  EXPECT_EQ(Confirmed(v.volume_id(), {{"remoteKeep", "5"}, {"remote", "site-b"}}), "confirmed");
  s = Modify(v.volume_id(), {{"remoteInterval", "5s"}});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "remoteInterval")) << s.error_message();
  MustDelete(v.volume_id());

  // A volume without a declaration: remote starts one, the other keys alone
  // are refused.
  auto plain = CreateReq("modify-remote-plain", BlockCap(Mode::SINGLE_NODE_WRITER));
  (*plain.mutable_parameters())["replicas"] = "1";
  Volume p = MustCreate(plain);
  ASSERT_FALSE(p.volume_id().empty());
  s = Modify(p.volume_id(), {{"remoteKeep", "2"}});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "remote")) << s.error_message();
  EXPECT_FALSE(Show(p.volume_id())["attributes"].contains("remote-sync.keep"));
  s = Modify(p.volume_id(), {{"remote", "site-c"}, {"remoteKeep", "2"}});
  EXPECT_TRUE(s.ok()) << s.error_message();
  attributes = Show(p.volume_id())["attributes"];
  EXPECT_EQ(attributes.value("remote-sync.remote", ""), "site-c") << attributes.dump();
  EXPECT_EQ(attributes.value("remote-sync.keep", ""), "2");
  EXPECT_EQ(attributes.value("remote-sync.target", ""), "c-" + p.volume_id());  // site-c's prefix
  EXPECT_EQ(attributes.value("remote-sync.pairing", "").size(), 16u);
  MustDelete(p.volume_id());
}

}  // namespace
}  // namespace syncblock::csi::conformance
