// Replication links over TLS (replication/engine/link_security.h): real
// sockets, certificates from a throw-away CA (TestPki). Frames flow; a
// replica with another CA's certificate, or with the right CA but the name of
// another node, is refused with a precise reason that the primary's view
// (`volume show`) carries; a primary the replica does not trust, or that is
// not the volume's primary, is refused by the replica; a peer that never
// finishes its handshake holds no one up.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "replication/engine/link_security.h"
#include "replication/security/certificates.h"
#include "replication/security/tls_context.h"
#include "replication/security/tls_stream.h"
#include "replication/types/removed_members.h"
#include "replication/util/socket.h"
#include "replication/util/status_macros.h"
#include "replication/wire/frame_io.h"
#include "tests/replication/engine_cluster.h"
#include "tests/support/test_pki.h"
#include "tests/support/test_util.h"

namespace syncblock::repl {
namespace {

using syncblock::testing::TempDir;
using syncblock::testing::TestPki;
using syncblock::testing::WaitFor;
using testing::EngineCluster;

constexpr uint64_t kSize = 4 << 20;

std::shared_ptr<security::TlsContext> Context(const security::TlsFiles& files) {
  auto ctx = security::TlsContext::Load(files);
  EXPECT_TRUE(ctx.ok()) << ctx.status();
  return ctx.ok() ? *ctx : nullptr;
}

// The cluster's CA and a second one (the forger's), with certificates made
// on demand.
class Pkis {
 public:
  Pkis() {
    std::filesystem::create_directories(dir_.Join("ours"));
    std::filesystem::create_directories(dir_.Join("theirs"));
    ours_ = std::make_unique<TestPki>(dir_.Join("ours"));
    theirs_ = std::make_unique<TestPki>(dir_.Join("theirs"), "another CA");
  }
  std::shared_ptr<security::TlsContext> Ours(const std::string& name,
                                             const std::string& role = security::kRoleStorage) {
    return Context(ours_->Issue(name, role));
  }
  std::shared_ptr<security::TlsContext> Theirs(const std::string& name) {
    return Context(theirs_->Issue(name, security::kRoleStorage));
  }
  // Trusts our CA but presents a certificate of the other one: what a
  // replica sees from a forger.
  std::shared_ptr<security::TlsContext> Forged(const std::string& name) {
    security::TlsFiles f = theirs_->Issue(name, security::kRoleStorage);
    f.ca = ours_->ca_cert();
    return Context(f);
  }

 private:
  TempDir dir_;
  std::unique_ptr<TestPki> ours_, theirs_;
};

PeerView PeerOf(EngineCluster& c, const std::string& node) {
  auto e = c.engine();
  if (!e) return {};
  for (const auto& p : e->View().peers) {
    if (p.node_id == node) return p;
  }
  return {};
}

// Waits until the primary's view of `node` carries a message containing
// `text`, and returns the message seen last.
std::string WaitForMessage(EngineCluster& c, const std::string& node, const std::string& text) {
  std::string last;
  WaitFor(
      [&] {
        last = PeerOf(c, node).message;
        return last.find(text) != std::string::npos;
      },
      std::chrono::seconds(20));
  return last;
}

void Tweak(EngineOptions& o) { o.io_timeout = std::chrono::milliseconds(5000); }

TEST(ReplicationTlsTest, FramesFlowOverTls) {
  Pkis pki;
  EngineCluster c(kSize, 3, -1, Tweak, [&](const std::string& id) { return pki.Ours(id); });
  std::string data(64 << 10, 'x');
  for (int i = 0; i < 16; ++i) {
    data[0] = static_cast<char>('a' + i);
    ASSERT_TRUE(c.Write(static_cast<uint64_t>(i) * data.size(), data).ok());
  }
  ASSERT_TRUE(c.WaitInSync());
  for (int n = 1; n < 3; ++n) {
    EXPECT_EQ(c.ReadLive(n, 15 * data.size(), data.size()), data) << "node " << n;
  }
  // A replica that comes back reconnects over TLS and is resynced.
  c.Stop(2);
  ASSERT_TRUE(c.Write(0, std::string(4096, 'z')).ok());
  c.Start(2);
  ASSERT_TRUE(c.WaitInSync());
  EXPECT_EQ(c.ReadLive(2, 0, 4096), std::string(4096, 'z'));
}

// An encrypted volume's primary hands its data key to the data replicas in
// the hello, over TLS only: a replica whose node restarted is unlocked again
// (replication/doc/encryption.md, "Unlocking").
TEST(ReplicationTlsTest, TheDataKeyGoesToDataReplicasOverTlsOnly) {
  const std::string key(kHelloDataKeySize, 'K');
  auto with_key = [&](EngineOptions& o) {
    Tweak(o);
    o.data_key = [&](const std::string& volume) { return volume == "vol" ? key : ""; };
  };
  Pkis pki;
  {
    // node-2 is the witness: it holds no data and gets no key. (A link
    // that redials under load hands it over again: count hellos, not 1.)
    EngineCluster c(kSize, 3, 2, with_key, [&](const std::string& id) { return pki.Ours(id); });
    const std::string handed = "vol/node-0/" + key;
    std::vector<std::string> got = c.node(1).data_keys();
    ASSERT_FALSE(got.empty());
    EXPECT_EQ(got, std::vector<std::string>(got.size(), handed));
    EXPECT_TRUE(c.node(2).data_keys().empty());
    // Reconnecting (a restart) hands it over again.
    c.Stop(1);
    c.Start(1);
    std::vector<std::string> again;
    EXPECT_TRUE(WaitFor([&] {
      again = c.node(1).data_keys();
      return again.size() > got.size();
    }));
    EXPECT_EQ(again, std::vector<std::string>(again.size(), handed));
    EXPECT_TRUE(c.node(2).data_keys().empty());
  }
  {
    // Plaintext links (--insecure): no key on the wire.
    EngineCluster c(kSize, 3, -1, with_key);
    EXPECT_TRUE(c.node(1).data_keys().empty());
    EXPECT_TRUE(c.node(2).data_keys().empty());
  }
}

TEST(ReplicationTlsTest, AReplicaWithAnotherCasCertificateIsRefusedAndTheViewSaysWhy) {
  Pkis pki;
  EngineCluster c(
      kSize, 3, -1, Tweak,
      [&](const std::string& id) { return id == "node-2" ? pki.Theirs(id) : pki.Ours(id); },
      /*wait_in_sync=*/false);
  std::string m = WaitForMessage(c, "node-2", "TLS: the server's certificate is not trusted: ");
  EXPECT_NE(m.find("TLS: the server's certificate is not trusted: "), std::string::npos) << m;
  EXPECT_NE(PeerOf(c, "node-2").state, PeerState::kInSync);
  // IO goes on with the two others.
  ASSERT_TRUE(c.Write(0, std::string(4096, 'q')).ok());
  EXPECT_EQ(c.ReadLive(1, 0, 4096), std::string(4096, 'q'));
}

TEST(ReplicationTlsTest, AReplicaWithTheRightCaButAnotherNameIsRefused) {
  Pkis pki;
  // node-1's server presents a certificate of our CA for node-9.
  EngineCluster c(
      kSize, 3, -1, Tweak,
      [&](const std::string& id) { return pki.Ours(id == "node-1" ? "node-9" : id); },
      /*wait_in_sync=*/false);
  std::string m = WaitForMessage(c, "node-1", "expected node-1 (storage)");
  EXPECT_NE(m.find("but the peer is node-9 (storage)"), std::string::npos) << m;
  ASSERT_TRUE(c.Write(0, std::string(4096, 'r')).ok());
  EXPECT_EQ(c.ReadLive(2, 0, 4096), std::string(4096, 'r'));
}

TEST(ReplicationTlsTest, AReplicaThatRefusesOurCertificateIsShownSo) {
  Pkis pki;
  // The primary trusts our CA but presents the other CA's certificate: the
  // replicas refuse it in the handshake.
  EngineCluster c(
      kSize, 3, -1, Tweak,
      [&](const std::string& id) { return id == "node-0" ? pki.Forged(id) : pki.Ours(id); },
      /*wait_in_sync=*/false);
  std::string m = WaitForMessage(c, "node-1", "does not accept our certificate");
  EXPECT_NE(m.find("unknown ca"), std::string::npos) << m;
  // TLS 1.3: the primary reads the alert before the replica's accept thread
  // has counted the refusal.
  EXPECT_TRUE(WaitFor([&] { return c.node(1).server->connections_refused() >= 1; },
                      std::chrono::seconds(10)));
  auto e = c.engine();
  ASSERT_TRUE(e);
  EXPECT_FALSE(e->View().active) << "no replica accepted a primary it cannot authenticate";
}

// A client connection to a replication server, through TLS with `ctx`,
// that sends a hello for `primary` and returns the reply (or the error).
absl::StatusOr<HelloReply> HelloAs(int port, security::TlsContext& ctx,
                                   const std::string& server_name, const HelloRequest& hello) {
  ASSIGN_OR_RETURN(int fd, ConnectTcp({"127.0.0.1", port}, std::chrono::seconds(5)));
  absl::StatusOr<std::unique_ptr<security::ByteStream>> stream =
      DialedStream(fd, &ctx, server_name, std::chrono::seconds(5));
  if (!stream.ok()) {
    close(fd);
    return stream.status();
  }
  FrameHeader h;
  h.type = FrameType::kHello;
  Frame answer;
  absl::Status s = WriteFrame(**stream, h, EncodeHello(hello));
  if (s.ok()) s = ReadFrame(**stream, &answer);
  stream->reset();
  close(fd);
  if (!s.ok()) return s;
  return DecodeHelloReply(answer.payload);
}

HelloRequest HelloOf(EngineCluster& c, const std::string& primary, uint64_t epoch) {
  Manifest m = c.replica(1).manifest();
  HelloRequest h;
  h.volume_id = m.volume_id;
  h.epoch = epoch;
  h.primary_node_id = primary;
  h.members = m.members;
  h.size_bytes = m.size_bytes;
  h.region_size = m.region_size;
  h.create_if_missing = false;
  return h;
}

TEST(ReplicationTlsTest, AReplicaTakesAHelloOnlyFromTheNodeItsCertificateNames) {
  Pkis pki;
  EngineCluster c(kSize, 3, -1, Tweak, [&](const std::string& id) { return pki.Ours(id); });
  const uint64_t epoch = c.replica(1).manifest().epoch;

  // node-2, a member, claims to be the primary node-0 in its hello.
  auto ctx = pki.Ours("node-2");
  auto r = HelloAs(c.node(1).port, *ctx, "node-1", HelloOf(c, "node-0", epoch + 1));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, WireStatus::kInvalid);
  EXPECT_NE(r->message.find("does not name node-0"), std::string::npos) << r->message;

  // A storage node of our CA that is no member of the volume.
  auto stranger = pki.Ours("node-7");
  r = HelloAs(c.node(1).port, *stranger, "node-1", HelloOf(c, "node-7", epoch));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, WireStatus::kInvalid);
  EXPECT_NE(r->message.find("node-7 is not a member of volume vol"), std::string::npos)
      << r->message;

  // A certificate of another role (a CSI node plugin) is refused before any hello.
  auto plugin = pki.Ours("node-0", security::kRoleNode);
  r = HelloAs(c.node(1).port, *plugin, "node-1", HelloOf(c, "node-0", epoch));
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(WaitFor([&] { return c.node(1).server->connections_refused() >= 3; },
                      std::chrono::seconds(10)));

  // None of it disturbed the volume: still replicated, at its epoch.
  EXPECT_EQ(c.replica(1).manifest().epoch, epoch);
  ASSERT_TRUE(c.Write(0, std::string(4096, 's')).ok());
  ASSERT_TRUE(c.WaitInSync());
  EXPECT_EQ(c.ReadLive(1, 0, 4096), std::string(4096, 's'));
}

TEST(ReplicationTlsTest, AdmitPrimaryFollowsTheMembersAndTheEpochRules) {
  Manifest local;
  local.volume_id = "v";
  local.epoch = 5;
  local.primary_node_id = "a";
  local.members = {{"a", "", "", "", ""}, {"b", "", "", "", ""}, {"c", "", "", "", ""}};
  HelloRequest h;
  h.volume_id = "v";
  h.epoch = 5;
  h.primary_node_id = "a";
  h.members = local.members;
  security::PeerIdentity a{"a", "storage"}, d{"d", "storage"};
  EXPECT_TRUE(AdmitPrimary(nullptr, h, &local).ok()) << "plaintext: no identity to check";
  EXPECT_TRUE(AdmitPrimary(&a, h, &local).ok());
  EXPECT_EQ(AdmitPrimary(&d, h, &local).code(), absl::StatusCode::kPermissionDenied);
  // b, a member, takes over at a newer epoch.
  h.primary_node_id = "b";
  h.epoch = 6;
  security::PeerIdentity b{"b", "storage"};
  EXPECT_TRUE(AdmitPrimary(&b, h, &local).ok());
  // d, added while this replica was away, primary of a newer epoch.
  h.primary_node_id = "d";
  h.members.push_back({"d", "", "", "", ""});
  EXPECT_TRUE(AdmitPrimary(&d, h, &local).ok());
  // ... but not at this replica's own epoch.
  h.epoch = 5;
  EXPECT_EQ(AdmitPrimary(&d, h, &local).code(), absl::StatusCode::kPermissionDenied);
  // ... unless it is of a newer lineage (a promotion that accepted data
  // loss): that wins whatever the epochs, an older one too.
  AddRemovedMembers(h.attributes, {"c"});
  h.epoch = 4;
  EXPECT_TRUE(AdmitPrimary(&d, h, &local).ok());
  h.attributes.clear();
  // No local replica yet: the hello's own members decide; a witness is no primary.
  EXPECT_TRUE(AdmitPrimary(&d, h, nullptr).ok());
  h.members.back().witness = true;
  EXPECT_EQ(AdmitPrimary(&d, h, nullptr).code(), absl::StatusCode::kPermissionDenied);
}

// A registry with no replicas: enough to exercise the server's handshake.
struct NoReplicas : ReplicaRegistry {
  std::shared_ptr<Replica> FindReplica(const std::string&) override { return nullptr; }
  absl::StatusOr<std::shared_ptr<Replica>> CreateReplicaFor(const HelloRequest&) override {
    return absl::NotFoundError("none here");
  }
};

TEST(ReplicationTlsTest, APeerThatNeverFinishesItsHandshakeHoldsNoOneUp) {
  Pkis pki;
  NoReplicas registry;
  ReplicationServerOptions ro;
  ro.tls = pki.Ours("node-1");
  ro.handshake_timeout = std::chrono::milliseconds(500);
  ReplicationServer server(&registry, ro);
  ASSERT_TRUE(server.Listen({"127.0.0.1", 0}).ok());

  // Silent connections: they connect and say nothing (a frozen process).
  std::vector<int> silent;
  for (int i = 0; i < 8; ++i) {
    auto fd = ConnectTcp({"127.0.0.1", server.port()}, std::chrono::seconds(2));
    ASSERT_TRUE(fd.ok()) << fd.status();
    silent.push_back(*fd);
  }
  // A real peer is served meanwhile, at once.
  auto ctx = pki.Ours("node-0");
  HelloRequest h;
  h.volume_id = "v";
  h.epoch = 1;
  h.primary_node_id = "node-0";
  h.members = {{"node-0", "", "", "", ""}, {"node-1", "", "", "", ""}};
  h.size_bytes = kSize;
  h.region_size = EngineCluster::kRegion;
  h.create_if_missing = false;
  auto start = std::chrono::steady_clock::now();
  auto r = HelloAs(server.port(), *ctx, "node-1", h);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, WireStatus::kNotFound);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));

  // The silent ones are closed after the handshake timeout.
  for (int fd : silent) {
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char b;
    EXPECT_EQ(read(fd, &b, 1), 0) << "the server closes a silent connection";
    close(fd);
  }
  EXPECT_TRUE(WaitFor([&] { return server.connections_refused() >= 8; }, std::chrono::seconds(5)));
}

TEST(ReplicationTlsTest, AReplicaThatNeverAnswersTheHandshakeDoesNotStopTheVolume) {
  Pkis pki;
  // node-2's address leads to a socket that accepts (the kernel's backlog)
  // and never answers: a frozen process.
  auto frozen = ListenTcp({"127.0.0.1", 0});
  ASSERT_TRUE(frozen.ok());
  const int frozen_port = LocalPort(*frozen);
  struct ToFrozen : Dialer {
    int frozen_port = 0;
    std::mutex mu;
    std::string frozen_address;  // guarded by mu
    absl::StatusOr<int> Dial(const std::string& address,
                             std::chrono::milliseconds timeout) override {
      {
        std::lock_guard<std::mutex> l(mu);
        if (address == frozen_address) return ConnectTcp({"127.0.0.1", frozen_port}, timeout);
      }
      return PosixDialer().Dial(address, timeout);
    }
  };
  auto dialer = std::make_shared<ToFrozen>();
  dialer->frozen_port = frozen_port;
  auto c = std::make_unique<EngineCluster>(
      kSize, 3, -1,
      [&](EngineOptions& o) {
        Tweak(o);
        o.dialer = dialer;
      },
      [&](const std::string& id) { return pki.Ours(id); });
  // From now on node-2 is "frozen": its reconnections reach the silent socket.
  {
    std::lock_guard<std::mutex> l(dialer->mu);
    dialer->frozen_address = "127.0.0.1:" + std::to_string(c->node(2).port);
  }
  c->Stop(2);
  std::string m = WaitForMessage(*c, "node-2", "TLS handshake did not finish");
  EXPECT_NE(m.find("TLS handshake did not finish"), std::string::npos) << m;
  ASSERT_TRUE(c->Write(0, std::string(4096, 'f')).ok());
  EXPECT_EQ(c->ReadLive(1, 0, 4096), std::string(4096, 'f'));
  // Stopping the primary does not wait out a handshake in progress.
  auto start = std::chrono::steady_clock::now();
  c->Stop(0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  c.reset();
  close(*frozen);
}

// A measurement, not a test (run with --gtest_also_run_disabled_tests): 4 KiB
// and 1 MiB writes kept `depth` deep through an in-process 3-replica volume
// (two peer links over loopback), with TLS and without, alternating rounds;
// prints the write rate of each and their ratio. Only the replication links
// differ between the two: no NBD, no gRPC.
double WritesPerSecond(EngineCluster& c, uint32_t bs, int depth, std::chrono::seconds run) {
  auto e = c.engine();
  if (!e) return 0;
  std::mutex mu;
  std::condition_variable cv;
  int in_flight = 0;
  uint64_t done = 0;
  uint64_t n = 0;
  const uint64_t slots = kSize / bs;
  auto end = std::chrono::steady_clock::now() + run;
  std::unique_lock<std::mutex> l(mu);
  while (std::chrono::steady_clock::now() < end) {
    cv.wait(l, [&] { return in_flight < depth; });
    auto req = std::make_shared<IoRequest>();
    req->op = IoOp::kWrite;
    req->offset = (n++ * 7919 % slots) * bs;
    req->length = bs;
    req->data.assign(bs, static_cast<char>(n));
    req->done = [&](IoRequest& r) {
      EXPECT_TRUE(r.status.ok()) << r.status;
      std::lock_guard<std::mutex> g(mu);
      --in_flight;
      ++done;
      cv.notify_all();
    };
    ++in_flight;
    l.unlock();
    e->Submit(req);
    l.lock();
  }
  cv.wait(l, [&] { return in_flight == 0; });
  return static_cast<double>(done) / static_cast<double>(run.count());
}

TEST(ReplicationTlsBench, DISABLED_WriteRateWithAndWithoutTls) {
  Pkis pki;
  const int rounds = 3;
  const auto run = std::chrono::seconds(5);
  EngineCluster plain(kSize, 3, -1, Tweak);
  EngineCluster tls(kSize, 3, -1, Tweak, [&](const std::string& id) { return pki.Ours(id); });
  for (auto [bs, depth] : {std::pair<uint32_t, int>{4096, 32}, {4096, 1}, {1 << 20, 8}}) {
    std::vector<double> p, t;
    for (int r = 0; r < rounds; ++r) {
      p.push_back(WritesPerSecond(plain, bs, depth, run));
      t.push_back(WritesPerSecond(tls, bs, depth, run));
    }
    std::sort(p.begin(), p.end());
    std::sort(t.begin(), t.end());
    std::printf(
        "write bs=%u qd=%d: plain %.0f/s, TLS %.0f/s, TLS/plain %.2f (median of %d x %llds)\n", bs,
        depth, p[rounds / 2], t[rounds / 2], t[rounds / 2] / p[rounds / 2], rounds,
        static_cast<long long>(run.count()));
  }
}

}  // namespace
}  // namespace syncblock::repl
