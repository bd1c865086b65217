// Mutual TLS and authorisation on the storage nodes' control API, against a
// real cluster from `local up` (TLS is its default): who can and cannot
// create and delete volumes, plaintext refused, --insecure, and certificate
// rotation while IO runs.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "replication/proto/control.grpc.pb.h"
#include "replication/security/certificates.h"
#include "replication/security/grpc_credentials.h"
#include "tests/support/local_cluster.h"
#include "tests/support/test_pki.h"

namespace syncblock::testing {
namespace {

namespace pb = ::syncblock::control::v1;

constexpr int kExitUnavailable = 4;

std::string TlsFlags(const security::TlsFiles& f) {
  if (f.insecure) return "--insecure";
  return absl::StrCat("--tls-ca ", f.ca, " --tls-cert ", f.cert, " --tls-key ", f.key);
}

// Replaces a file as an operator should: write aside, then rename.
void ReplaceFile(const std::string& from, const std::string& to) {
  std::error_code ec;
  std::filesystem::rename(from, to, ec);
  ASSERT_FALSE(ec) << from << " -> " << to << ": " << ec.message();
}

// The SHA-256 fingerprint of a PEM certificate file, from openssl.
std::string Fingerprint(const std::string& cert) {
  CommandResult r = RunCommand("openssl x509 -noout -fingerprint -sha256 -in '" + cert + "'");
  return std::string(absl::StripAsciiWhitespace(r.output));
}

// The fingerprint of the certificate a server presents, as openssl s_client
// (a client we did not write) sees it, presenting `client`'s certificate.
std::string ServedFingerprint(const std::string& address, const security::TlsFiles& client) {
  CommandResult r = RunCommand(absl::StrCat("openssl s_client -connect ", address, " -CAfile ",
                                            client.ca, " -cert ", client.cert, " -key ", client.key,
                                            " </dev/null 2>/dev/null | openssl x509 -noout "
                                            "-fingerprint -sha256"));
  return std::string(absl::StripAsciiWhitespace(r.output));
}

class ControlTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.ok()) << cluster_.up_output();
    ASSERT_EQ(cluster_.Ctl("volume create v1 --size 16M --replicas 3").exit_code, 0);
  }

  // `ctl` against the cluster's nodes with `tls` instead of cluster.json's.
  CommandResult CtlAs(const security::TlsFiles& tls, const std::string& args) {
    return RunCommand(absl::StrCat(SyncblockBinary(), " ctl --storage-nodes ",
                                   absl::StrJoin(cluster_.ControlAddresses(), ","), " ",
                                   TlsFlags(tls), " ", args),
                      std::chrono::seconds(60));
  }

  bool VolumeExists(const std::string& name) {
    return cluster_.Ctl("volume show " + name).exit_code == 0;
  }

  std::unique_ptr<pb::StorageControl::Stub> Stub(std::shared_ptr<grpc::ChannelCredentials> creds,
                                                 int node = 0) {
    return pb::StorageControl::NewStub(
        grpc::CreateChannel(cluster_.ControlAddresses().at(node), creds));
  }

  LocalCluster cluster_{3};
  TempDir other_dir_;
};

TEST_F(ControlTlsTest, CertificateFromAnotherCaCannotCreateOrDeleteVolumes) {
  TestPki other(other_dir_.path(), "another CA");
  // A ctl wholly from another CA: the TLS handshake fails both ways, and ctl
  // says so.
  security::TlsFiles stranger = other.Issue("stranger", security::kRoleAdmin);
  CommandResult create = CtlAs(stranger, "volume create v2 --size 16M --replicas 3");
  EXPECT_EQ(create.exit_code, kExitUnavailable) << create.output;
  EXPECT_NE(create.output.find("TLS handshake failed"), std::string::npos) << create.output;
  CommandResult del = CtlAs(stranger, "volume delete v1");
  EXPECT_EQ(del.exit_code, kExitUnavailable) << del.output;
  EXPECT_NE(del.output.find("TLS handshake failed"), std::string::npos) << del.output;

  // A forged controller that trusts the real CA: ctl itself sees the
  // certificate does not belong, and a gRPC client that does not check is
  // refused by the nodes in the handshake.
  security::TlsFiles forged = other.Issue("controller", security::kRoleController);
  forged.ca = cluster_.Tls("admin").ca;
  CommandResult forged_ctl = CtlAs(forged, "volume delete v1");
  EXPECT_EQ(forged_ctl.exit_code, 2) << forged_ctl.output;
  EXPECT_NE(forged_ctl.output.find("does not verify against --tls-ca"), std::string::npos)
      << forged_ctl.output;
  for (int node = 0; node < 3; ++node) {
    auto stub = Stub(security::GrpcChannelCredentials(forged), node);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    pb::DeleteReplicaRequest req;
    req.set_volume_id("v1");
    pb::DeleteReplicaResponse resp;
    grpc::Status s = stub->DeleteReplica(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
    grpc::ClientContext ctx2;
    ctx2.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    pb::ReplicaStatus created;
    pb::CreateReplicaRequest create_req;
    create_req.set_volume_id("v2");
    s = stub->CreateReplica(&ctx2, create_req, &created);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  }
  EXPECT_FALSE(VolumeExists("v2"));
  EXPECT_TRUE(VolumeExists("v1"));
}

TEST_F(ControlTlsTest, NodePluginCertificateMayLookUpButNotDelete) {
  security::TlsFiles node = cluster_.Tls("node-1-csi");  // CN node-1, OU node
  CommandResult del = CtlAs(node, "volume delete v1");
  EXPECT_EQ(del.exit_code, 1) << del.output;
  EXPECT_NE(del.output.find("permission denied: node-1 (node) may not call StorageControl/"),
            std::string::npos)
      << del.output;
  EXPECT_TRUE(VolumeExists("v1"));

  // What the node plugin's initiator does is allowed; every RPC that changes
  // or reads volume data is not, each refusal naming the caller and the RPC.
  auto stub = Stub(security::GrpcChannelCredentials(node));
  {
    grpc::ClientContext ctx;
    pb::GetReplicaRequest req;
    req.set_volume_id("v1");
    pb::ReplicaStatus resp;
    grpc::Status s = stub->GetReplica(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
  }
  std::vector<std::pair<std::string, grpc::Status>> refused;
  auto call = [&](const std::string& rpc, auto method, auto req, auto resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    refused.emplace_back(rpc, ((*stub).*method)(&ctx, req, &resp));
  };
  pb::DeleteReplicaRequest del_req;
  del_req.set_volume_id("v1");
  call("DeleteReplica", &pb::StorageControl::Stub::DeleteReplica, del_req,
       pb::DeleteReplicaResponse());
  call("CreateReplica", &pb::StorageControl::Stub::CreateReplica, pb::CreateReplicaRequest(),
       pb::ReplicaStatus());
  call("ListReplicas", &pb::StorageControl::Stub::ListReplicas, pb::ListReplicasRequest(),
       pb::ListReplicasResponse());
  call("SetMembers", &pb::StorageControl::Stub::SetMembers, pb::SetMembersRequest(),
       pb::ReplicaStatus());
  call("SetAttributes", &pb::StorageControl::Stub::SetAttributes, pb::SetAttributesRequest(),
       pb::ReplicaStatus());
  call("AcceptEpoch", &pb::StorageControl::Stub::AcceptEpoch, pb::AcceptEpochRequest(),
       pb::AcceptEpochResponse());
  call("Promote", &pb::StorageControl::Stub::Promote, pb::PromoteRequest(), pb::ReplicaStatus());
  call("RegionChecksums", &pb::StorageControl::Stub::RegionChecksums, pb::RegionChecksumsRequest(),
       pb::RegionChecksumsResponse());
  call("ReadRegion", &pb::StorageControl::Stub::ReadRegion, pb::ReadRegionRequest(),
       pb::ReadRegionResponse());
  call("Resync", &pb::StorageControl::Stub::Resync, pb::ResyncRequest(), pb::ReplicaStatus());
  call("ExpandVolume", &pb::StorageControl::Stub::ExpandVolume, pb::ExpandVolumeRequest(),
       pb::ReplicaStatus());
  call("HoldWrites", &pb::StorageControl::Stub::HoldWrites, pb::HoldWritesRequest(),
       pb::HoldWritesResponse());
  call("ReleaseWrites", &pb::StorageControl::Stub::ReleaseWrites, pb::ReleaseWritesRequest(),
       pb::ReleaseWritesResponse());
  call("CreateSnapshot", &pb::StorageControl::Stub::CreateSnapshot, pb::CreateSnapshotRequest(),
       pb::SnapshotStatus());
  call("DeleteSnapshot", &pb::StorageControl::Stub::DeleteSnapshot, pb::DeleteSnapshotRequest(),
       pb::DeleteSnapshotResponse());
  call("ListSnapshots", &pb::StorageControl::Stub::ListSnapshots, pb::ListSnapshotsRequest(),
       pb::ListSnapshotsResponse());
  call("SnapshotDiff", &pb::StorageControl::Stub::SnapshotDiff, pb::SnapshotDiffRequest(),
       pb::SnapshotDiffResponse());
  call("SnapshotChecksums", &pb::StorageControl::Stub::SnapshotChecksums,
       pb::SnapshotChecksumsRequest(), pb::RegionChecksumsResponse());
  call("ReadSnapshotRegion", &pb::StorageControl::Stub::ReadSnapshotRegion,
       pb::ReadSnapshotRegionRequest(), pb::ReadRegionResponse());
  call("PutRemote", &pb::StorageControl::Stub::PutRemote, pb::PutRemoteRequest(),
       pb::RemoteRecord());
  call("ListRemotes", &pb::StorageControl::Stub::ListRemotes, pb::ListRemotesRequest(),
       pb::ListRemotesResponse());
  for (const auto& [rpc, s] : refused) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED)
        << rpc << ": " << s.error_message();
    EXPECT_NE(s.error_message().find("StorageControl/" + rpc), std::string::npos)
        << s.error_message();
    EXPECT_NE(s.error_message().find("node-1 (node)"), std::string::npos) << s.error_message();
  }
  // Every RPC is one a node plugin may call or one refused above: a new RPC
  // without its check fails here.
  const auto* service =
      pb::GetReplicaRequest::descriptor()->file()->FindServiceByName("StorageControl");
  ASSERT_NE(service, nullptr);
  EXPECT_EQ(refused.size() + 3, static_cast<size_t>(service->method_count()))
      << "allowed to a node plugin: GetNodeInfo, GetReplica, UnlockVolume";
  // UnlockVolume: only a volume published to the caller (v1 is published to
  // nobody here).
  {
    grpc::ClientContext ctx;
    pb::UnlockVolumeRequest req;
    req.set_volume_id("v1");
    req.set_key("not-the-key");
    pb::UnlockVolumeResponse resp;
    grpc::Status s = stub->UnlockVolume(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
    EXPECT_NE(s.error_message().find(
                  "node-1 (node) may unlock only volumes published to it, and volume v1 is not"),
              std::string::npos)
        << s.error_message();
  }
  EXPECT_TRUE(VolumeExists("v1"));
  EXPECT_NE(cluster_.NodeLog("node-1").find(
                "permission denied: node-1 (node) may not call StorageControl/DeleteReplica"),
            std::string::npos);
}

TEST_F(ControlTlsTest, PlaintextClientIsRefused) {
  auto stub = Stub(grpc::InsecureChannelCredentials());
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  pb::DeleteReplicaRequest req;
  req.set_volume_id("v1");
  pb::DeleteReplicaResponse resp;
  grpc::Status s = stub->DeleteReplica(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();

  CommandResult r = CtlAs({"", "", "", true}, "volume delete v1");
  EXPECT_EQ(r.exit_code, kExitUnavailable) << r.output;
  EXPECT_TRUE(VolumeExists("v1"));
}

TEST(ControlTlsDefaultTest, DaemonWithoutCertificatesRefusesToStart) {
  TempDir dir;
  CommandResult r = RunCommand(absl::StrCat(SyncblockBinary(), " storage --node-id n1 --data-dir ",
                                            dir.path(), " --listen 127.0.0.1:0"),
                               std::chrono::seconds(30));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("--tls-ca, --tls-cert, --tls-key"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--insecure"), std::string::npos) << r.output;

  // A key that is not the certificate's is caught at start, naming the files.
  TestPki pki(dir.path());
  security::TlsFiles a = pki.Issue("a", security::kRoleStorage);
  security::TlsFiles b = pki.Issue("b", security::kRoleStorage);
  r = RunCommand(absl::StrCat(SyncblockBinary(), " storage --node-id n1 --data-dir ", dir.path(),
                              " --listen 127.0.0.1:0 --tls-ca ", a.ca, " --tls-cert ", a.cert,
                              " --tls-key ", b.key),
                 std::chrono::seconds(30));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find(b.key + " is not the key of --tls-cert " + a.cert), std::string::npos)
      << r.output;
}

TEST(ControlInsecureTest, InsecureClusterWorksAndWarnsAtEveryStart) {
  LocalCluster cluster(1, "--no-csi --insecure");
  ASSERT_TRUE(cluster.ok()) << cluster.up_output();
  EXPECT_NE(cluster.up_output().find("--insecure"), std::string::npos) << cluster.up_output();
  ASSERT_EQ(cluster.Ctl("volume create v --size 16M --replicas 1").exit_code, 0);
  EXPECT_EQ(cluster.Ctl("volume show v").exit_code, 0);
  const std::string warning = "--insecure: TLS is off";
  EXPECT_NE(cluster.NodeLog("node-1").find(warning), std::string::npos)
      << cluster.NodeLog("node-1");
  ASSERT_TRUE(cluster.Kill("node-1"));
  ASSERT_TRUE(cluster.Start("node-1"));
  const std::string log = cluster.NodeLog("node-1");
  EXPECT_NE(log.find(warning), log.rfind(warning)) << "warned once over two starts:\n" << log;
}

// Every process's certificate is replaced twice while a writer and a reader
// of the control API run: first new keys from the same CA, then a new CA
// (bundle old+new, new certificates, then the new CA alone). Nothing fails,
// the nodes present the new certificates without a restart, and at the end
// a certificate from the old CA is refused.
TEST_F(ControlTlsTest, CertificatesRotateWithoutRestartWhileIoRuns) {
  if (!HaveTool("qemu-io") || !HaveTool("openssl")) GTEST_SKIP() << "needs qemu-io and openssl";
  const std::string tls_dir = cluster_.dir() + "/tls";
  const std::vector<std::string> names = {"node-1",     "node-2", "node-3",
                                          "controller", "admin",  "node-1-csi"};
  auto role_of = [](const std::string& n) -> std::string {
    if (n == "controller") return security::kRoleController;
    if (n == "admin") return security::kRoleAdmin;
    if (n == "node-1-csi") return security::kRoleNode;
    return security::kRoleStorage;
  };
  const std::string uri = cluster_.Export("v1");
  ASSERT_FALSE(uri.empty());

  std::atomic<bool> stop{false};
  std::atomic<int> writes{0}, reads{0};
  std::string io_error, control_error;
  std::thread writer([&] {
    for (int i = 0; !stop && io_error.empty(); ++i) {
      CommandResult r = RunCommand(absl::StrCat("qemu-io -f raw '", uri, "' -c 'write -P ",
                                                i % 200 + 1, " ", (i % 16) * 1048576, " 1M'"),
                                   std::chrono::seconds(60));
      if (r.exit_code != 0) io_error = r.output;
      ++writes;
    }
  });
  std::thread reader([&] {
    while (!stop && control_error.empty()) {
      CommandResult r = cluster_.Ctl("volume show v1");
      if (r.exit_code != 0) control_error = r.output;
      ++reads;
    }
  });

  const security::PemFiles old_ca{tls_dir + "/ca.crt", tls_dir + "/ca.key"};
  auto reissue = [&](const security::PemFiles& ca) {
    for (const auto& n : names) {
      const std::string fresh = tls_dir + "/fresh-" + n;
      ASSERT_TRUE(security::IssueCertificate(
                      ca,
                      {n == "node-1-csi" ? "node-1" : n, role_of(n), {"localhost"}, {"127.0.0.1"}},
                      {fresh + ".crt", fresh + ".key"})
                      .ok());
      ReplaceFile(fresh + ".key", tls_dir + "/" + n + ".key");
      ReplaceFile(fresh + ".crt", tls_dir + "/" + n + ".crt");
    }
  };
  auto settle = [] { std::this_thread::sleep_for(std::chrono::seconds(3)); };

  // 1. New keys and certificates from the same CA.
  reissue(old_ca);
  settle();
  const std::string rotated = Fingerprint(tls_dir + "/node-2.crt");
  EXPECT_EQ(ServedFingerprint(cluster_.ControlAddresses()[1], cluster_.Tls("admin")), rotated);

  // 2. A new CA: trusted next to the old one first, then certificates from
  // it, then alone.
  const security::PemFiles new_ca{tls_dir + "/new-ca.crt", tls_dir + "/new-ca.key"};
  ASSERT_TRUE(security::CreateCertificateAuthority(new_ca, "rotated CA").ok());
  WriteFile(tls_dir + "/bundle.crt", ReadFile(old_ca.cert) + ReadFile(new_ca.cert));
  const std::string old_ca_copy = tls_dir + "/old-ca.crt";
  WriteFile(old_ca_copy, ReadFile(old_ca.cert));
  ReplaceFile(tls_dir + "/bundle.crt", old_ca.cert);
  settle();
  reissue(new_ca);
  settle();
  WriteFile(tls_dir + "/only-new.crt", ReadFile(new_ca.cert));
  ReplaceFile(tls_dir + "/only-new.crt", old_ca.cert);
  settle();

  stop = true;
  writer.join();
  reader.join();
  EXPECT_EQ(io_error, "") << "IO failed during rotation";
  EXPECT_EQ(control_error, "") << "a control call failed during rotation";
  EXPECT_GT(writes.load(), 0);
  EXPECT_GT(reads.load(), 0);
  std::cout << writes.load() << " qemu-io writes and " << reads.load()
            << " ctl calls ran during the rotations\n";
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(ServedFingerprint(cluster_.ControlAddresses()[i], cluster_.Tls("admin")),
              Fingerprint(absl::StrCat(tls_dir, "/node-", i + 1, ".crt")))
        << "node-" << i + 1 << " still presents an old certificate";
  }
  // The cluster works on the new certificates, and one from the old CA is
  // refused now.
  EXPECT_EQ(cluster_.Ctl("volume create v3 --size 16M --replicas 3").exit_code, 0);
  security::TlsFiles old_admin{old_ca_copy, other_dir_.path() + "/old-admin.crt",
                               other_dir_.path() + "/old-admin.key", false};
  ASSERT_TRUE(security::IssueCertificate({old_ca_copy, tls_dir + "/ca.key"},
                                         {"admin", security::kRoleAdmin, {}, {}},
                                         {old_admin.cert, old_admin.key})
                  .ok());
  old_admin.ca = old_ca.cert;  // trusts the nodes: only its own certificate is stale
  for (int node = 0; node < 3; ++node) {
    auto stub = Stub(security::GrpcChannelCredentials(old_admin), node);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    pb::DeleteReplicaRequest req;
    req.set_volume_id("v3");
    pb::DeleteReplicaResponse resp;
    grpc::Status s = stub->DeleteReplica(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  }
  EXPECT_TRUE(VolumeExists("v3"));
}

}  // namespace
}  // namespace syncblock::testing
