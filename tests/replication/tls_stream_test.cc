// TLS on the data paths (replication/security): certificates from our own
// CA, the handshake's refusals (another CA, no TLS at all, the wrong peer),
// full-duplex use from two threads, socket timeouts, and rotation of the
// files under a running process.
#include "replication/security/tls_stream.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <random>
#include <thread>
#include <vector>

#include "replication/security/certificates.h"
#include "replication/security/tls_context.h"
#include "replication/util/socket.h"
#include "tests/support/test_pki.h"
#include "tests/support/test_util.h"

namespace syncblock::security {
namespace {

using syncblock::testing::TempDir;
using syncblock::testing::TestPki;
constexpr auto kTimeout = std::chrono::seconds(10);

struct Pair {
  int a = -1, b = -1;
  Pair() {
    int fds[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    a = fds[0];
    b = fds[1];
  }
  ~Pair() {
    if (a >= 0) close(a);
    if (b >= 0) close(b);
  }
};

std::shared_ptr<TlsContext> Context(const TlsFiles& files) {
  auto ctx = TlsContext::Load(files);
  EXPECT_TRUE(ctx.ok()) << ctx.status();
  return ctx.ok() ? *ctx : nullptr;
}

struct Connected {
  std::unique_ptr<TlsStream> server, client;
};

Connected Handshake(Pair& p, TlsContext& server_ctx, TlsContext& client_ctx) {
  auto server =
      std::async(std::launch::async, [&] { return TlsStream::Accept(p.a, server_ctx, kTimeout); });
  auto client = TlsStream::Connect(p.b, client_ctx, kTimeout);
  auto s = server.get();
  EXPECT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(client.ok()) << client.status();
  Connected c;
  if (s.ok()) c.server = *std::move(s);
  if (client.ok()) c.client = *std::move(client);
  return c;
}

bool ReadAll(TlsStream& s, void* buf, size_t n) {
  char* p = static_cast<char*>(buf);
  while (n > 0) {
    ssize_t r = s.Read(p, n);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

class TlsStreamTest : public ::testing::Test {
 protected:
  // A TLS session over `p`: storage node `server` and `client` in `client_role`.
  Connected Session(Pair& p, const std::string& server, const std::string& client,
                    const std::string& client_role = kRoleStorage) {
    auto server_ctx = Context(pki_.Issue(server, kRoleStorage));
    auto client_ctx = Context(pki_.Issue(client, client_role));
    return Handshake(p, *server_ctx, *client_ctx);
  }

  TempDir dir_;
  TestPki pki_{dir_.path()};
};

TEST_F(TlsStreamTest, BothSidesSeeTheOthersIdentityAndDataFlows) {
  Pair p;
  Connected c = Session(p, "node-1", "worker-7", kRoleNode);
  ASSERT_TRUE(c.server && c.client);
  EXPECT_EQ(c.server->peer()->name, "worker-7");
  EXPECT_EQ(c.server->peer()->role, "node");
  EXPECT_EQ(c.client->peer()->name, "node-1");
  EXPECT_EQ(c.client->peer()->role, "storage");

  // A header and a payload in one vector, as an NBD reply is sent.
  char header[16] = "header---------";
  std::vector<char> payload(100000);
  std::mt19937 rng(1);
  for (auto& ch : payload) ch = static_cast<char>(rng());
  struct iovec iov[2] = {{header, sizeof header}, {payload.data(), payload.size()}};
  ASSERT_TRUE(c.client->Writev(iov, 2));
  std::vector<char> got(sizeof header + payload.size());
  ASSERT_TRUE(ReadAll(*c.server, got.data(), got.size()));
  EXPECT_EQ(std::string(got.data(), sizeof header), std::string(header, sizeof header));
  EXPECT_TRUE(std::equal(payload.begin(), payload.end(), got.begin() + sizeof header));

  c.client->Close();
  char b;
  EXPECT_EQ(c.server->Read(&b, 1), 0) << "close_notify reads as the end of the stream";
}

TEST_F(TlsStreamTest, ReaderAndWriterThreadsShareOneStream) {
  Pair p;
  Connected c = Session(p, "node-1", "node-2");
  ASSERT_TRUE(c.server && c.client);
  // Both ends write 8 MiB while reading what the other writes: with one
  // thread per direction and small socket buffers, this only finishes if a
  // blocked reader never stops a writer of the same stream.
  constexpr size_t kBytes = 8 << 20;
  auto pump = [&](TlsStream& s, uint8_t seed) {
    std::thread writer([&] {
      std::vector<uint8_t> chunk(65536);
      for (size_t sent = 0; sent < kBytes; sent += chunk.size()) {
        for (size_t i = 0; i < chunk.size(); ++i) chunk[i] = static_cast<uint8_t>(seed + sent + i);
        ASSERT_TRUE(s.Write(chunk.data(), chunk.size()));
      }
    });
    std::vector<uint8_t> in(kBytes);
    bool ok = ReadAll(s, in.data(), in.size());
    writer.join();
    return std::make_pair(ok, in);
  };
  auto server_side = std::async(std::launch::async, [&] { return pump(*c.server, 7); });
  auto [client_ok, client_in] = pump(*c.client, 3);
  auto [server_ok, server_in] = server_side.get();
  ASSERT_TRUE(client_ok && server_ok);
  for (size_t i = 0; i < kBytes; i += 4093) {
    ASSERT_EQ(client_in[i], static_cast<uint8_t>(7 + i)) << i;
    ASSERT_EQ(server_in[i], static_cast<uint8_t>(3 + i)) << i;
  }
}

TEST_F(TlsStreamTest, AReadTakesManyRecordsAndSaysWhatItHolds) {
  Pair p;
  Connected c = Session(p, "node-1", "node-2");
  ASSERT_TRUE(c.server && c.client);
  std::vector<char> big(1 << 20, 'r');
  auto writer =
      std::async(std::launch::async, [&] { return c.client->Write(big.data(), big.size()); });
  std::vector<char> in(big.size());
  size_t got = 0, largest = 0;
  while (got < in.size()) {
    ssize_t r = c.server->Read(in.data() + got, in.size() - got);
    ASSERT_GT(r, 0);
    largest = std::max(largest, static_cast<size_t>(r));
    got += static_cast<size_t>(r);
  }
  ASSERT_TRUE(writer.get());
  EXPECT_GT(largest, 16u * 1024) << "records read ahead come back in one Read";
  EXPECT_FALSE(c.server->HasBufferedInput());

  // One byte of a record read: the rest is held by the stream, not the
  // socket, and a reader about to wait for the socket must know.
  ASSERT_TRUE(c.client->Write("abcdef", 6));
  char b;
  ASSERT_EQ(c.server->Read(&b, 1), 1);
  EXPECT_TRUE(c.server->HasBufferedInput());
  char rest[5];
  ASSERT_TRUE(c.server->ReadFull(rest, 5));
  EXPECT_EQ(std::string(rest, 5), "bcdef");
  EXPECT_FALSE(c.server->HasBufferedInput());
}

TEST_F(TlsStreamTest, AClientCertificateFromAnotherCaIsRefused) {
  TempDir other_dir;
  TestPki other(other_dir.path(), "someone else's CA");
  auto server_ctx = Context(pki_.Issue("node-1", kRoleStorage));
  // The forger trusts our CA (it copied ca.crt) but cannot get its own
  // certificate signed by it.
  TlsFiles forged = other.Issue("controller", kRoleController);
  forged.ca = pki_.ca_cert();
  auto forged_ctx = Context(forged);
  Pair p;
  auto server =
      std::async(std::launch::async, [&] { return TlsStream::Accept(p.a, *server_ctx, kTimeout); });
  auto client = TlsStream::Connect(p.b, *forged_ctx, kTimeout);
  auto s = server.get();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnauthenticated) << s.status();
  EXPECT_NE(s.status().message().find("client's certificate is not trusted"), std::string::npos)
      << s.status();
  // In TLS 1.3 the client's handshake ends before the server checks it: it
  // learns at its first read that it was refused.
  if (client.ok()) {
    char b;
    EXPECT_EQ((*client)->Read(&b, 1), -1);
  }
}

TEST_F(TlsStreamTest, AServerFromAnotherCaIsRefused) {
  TempDir other_dir;
  TestPki other(other_dir.path(), "someone else's CA");
  TlsFiles impostor = other.Issue("node-1", kRoleStorage);
  impostor.ca = pki_.ca_cert();
  auto server_ctx = Context(impostor);
  auto client_ctx = Context(pki_.Issue("controller", kRoleController));
  Pair p;
  auto server =
      std::async(std::launch::async, [&] { return TlsStream::Accept(p.a, *server_ctx, kTimeout); });
  auto client = TlsStream::Connect(p.b, *client_ctx, kTimeout);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), absl::StatusCode::kUnauthenticated) << client.status();
  EXPECT_NE(client.status().message().find("server's certificate is not trusted"),
            std::string::npos)
      << client.status();
  auto s = server.get();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("unknown ca"), std::string::npos) << s.status();
}

// The chart gives every node a signing CA limited to role node: what it
// signs for another role must be refused, whatever the chain verifies to.
TEST_F(TlsStreamTest, ARoleLimitedSigningCaCannotMintOtherRoles) {
  PemFiles signer{dir_.Join("node-signer.crt"), dir_.Join("node-signer.key")};
  CertificateRequest ca_request{"node signer", kRoleNode, {}, {}};
  ca_request.is_ca = true;
  ASSERT_TRUE(IssueCertificate({pki_.ca_cert(), pki_.ca_key()}, ca_request, signer).ok());
  auto issue_from_signer = [&](const std::string& name, const std::string& role) {
    TlsFiles files{pki_.ca_cert(), dir_.Join(name + ".crt"), dir_.Join(name + ".key")};
    EXPECT_TRUE(
        IssueCertificate(signer, {name, role, {}, {"127.0.0.1"}}, {files.cert, files.key}).ok());
    // The leaf followed by its signer: the peer presents the chain.
    syncblock::testing::WriteFile(files.cert, syncblock::testing::ReadFile(files.cert) +
                                                  syncblock::testing::ReadFile(signer.cert));
    return files;
  };
  auto server_ctx = Context(pki_.Issue("node-1", kRoleStorage));

  auto node_ctx = Context(issue_from_signer("worker-3", kRoleNode));
  Pair ok_pair;
  Connected ok = Handshake(ok_pair, *server_ctx, *node_ctx);
  ASSERT_TRUE(ok.server);
  EXPECT_EQ(ok.server->peer()->ToString(), "worker-3 (node)");

  auto forged_ctx = Context(issue_from_signer("controller", kRoleController));
  Pair p;
  auto server =
      std::async(std::launch::async, [&] { return TlsStream::Accept(p.a, *server_ctx, kTimeout); });
  auto client = TlsStream::Connect(p.b, *forged_ctx, kTimeout);
  auto s = server.get();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(s.status().message().find("signs only role node"), std::string::npos) << s.status();

  // gRPC hands over the presented chain as PEM: the same rule applies.
  auto id = IdentityFromPemChain(syncblock::testing::ReadFile(dir_.Join("controller.crt")));
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), absl::StatusCode::kUnauthenticated);
  auto node_id = IdentityFromPemChain(syncblock::testing::ReadFile(dir_.Join("worker-3.crt")));
  ASSERT_TRUE(node_id.ok()) << node_id.status();
  EXPECT_EQ(node_id->name, "worker-3");
  // In any order (gRPC's chain may start at the root).
  auto reversed = IdentityFromPemChain(syncblock::testing::ReadFile(pki_.ca_cert()) +
                                       syncblock::testing::ReadFile(signer.cert) +
                                       syncblock::testing::ReadFile(dir_.Join("worker-3.crt")));
  ASSERT_TRUE(reversed.ok()) << reversed.status();
  EXPECT_EQ(reversed->ToString(), "worker-3 (node)");
}

TEST_F(TlsStreamTest, APlaintextClientIsRefused) {
  auto server_ctx = Context(pki_.Issue("node-1", kRoleStorage));
  Pair p;
  auto server =
      std::async(std::launch::async, [&] { return TlsStream::Accept(p.a, *server_ctx, kTimeout); });
  const char hello[] = "NBDMAGIC not TLS at all, and long enough to be a record\n";
  ASSERT_EQ(write(p.b, hello, sizeof hello), static_cast<ssize_t>(sizeof hello));
  auto s = server.get();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnavailable) << s.status();
}

TEST_F(TlsStreamTest, TheClientRefusesAServerThatIsNotTheNodeItMeant) {
  auto server_ctx = Context(pki_.Issue("node-3", kRoleStorage));
  auto client_ctx = Context(pki_.Issue("node-1", kRoleStorage));
  Pair p;
  auto server =
      std::async(std::launch::async, [&] { return TlsStream::Accept(p.a, *server_ctx, kTimeout); });
  auto client =
      TlsStream::Connect(p.b, *client_ctx, kTimeout, PeerIdentity{"node-2", kRoleStorage});
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(client.status().message().find("node-3"), std::string::npos) << client.status();
  close(p.b);
  p.b = -1;
  (void)server.get();
}

TEST_F(TlsStreamTest, AHandshakeWithASilentPeerTimesOut) {
  auto server_ctx = Context(pki_.Issue("node-1", kRoleStorage));
  Pair p;
  auto s = TlsStream::Accept(p.a, *server_ctx, std::chrono::milliseconds(200));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kDeadlineExceeded) << s.status();
}

TEST_F(TlsStreamTest, AReadHonoursTheSocketsReceiveTimeout) {
  Pair p;
  Connected c = Session(p, "node-1", "node-2");
  ASSERT_TRUE(c.server && c.client);
  timeval tv{0, 100000};
  ASSERT_EQ(setsockopt(p.a, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  char b;
  EXPECT_EQ(c.server->Read(&b, 1), -1);
  EXPECT_EQ(errno, EAGAIN);
}

TEST_F(TlsStreamTest, NewSessionsUseRotatedFilesAndRunningOnesKeepGoing) {
  TlsFiles server_files = pki_.Issue("node-1", kRoleStorage);
  auto server_ctx = Context(server_files);
  auto client_ctx = Context(pki_.Issue("node-2", kRoleStorage));
  Pair before;
  Connected old = Handshake(before, *server_ctx, *client_ctx);
  ASSERT_TRUE(old.server && old.client);
  EXPECT_EQ(old.client->peer()->name, "node-1");

  // Rotate: the same paths now hold a certificate with another name.
  ASSERT_TRUE(IssueCertificate({pki_.ca_cert(), pki_.ca_key()},
                               {"node-1-rotated", kRoleStorage, {}, {"127.0.0.1"}},
                               {server_files.cert, server_files.key})
                  .ok());
  ASSERT_TRUE(server_ctx->Reload().ok());
  Pair after;
  Connected fresh = Handshake(after, *server_ctx, *client_ctx);
  ASSERT_TRUE(fresh.server && fresh.client);
  EXPECT_EQ(fresh.client->peer()->name, "node-1-rotated");

  ASSERT_TRUE(old.client->Write("still here", 10));
  char got[10];
  ASSERT_TRUE(ReadAll(*old.server, got, sizeof got));
  EXPECT_EQ(std::string(got, 10), "still here");
}

TEST_F(TlsStreamTest, BrokenRotationKeepsThePreviousFiles) {
  TlsFiles files = pki_.Issue("node-1", kRoleStorage);
  auto ctx = Context(files);
  auto before = ctx->Current();
  ASSERT_EQ(truncate(files.key.c_str(), 10), 0);
  absl::Status s = ctx->Reload();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(files.key), std::string::npos) << s;
  EXPECT_EQ(ctx->Current(), before);
}

TEST_F(TlsStreamTest, LoadNamesWhatIsMissing) {
  TlsFiles none;
  auto ctx = TlsContext::Load(none);
  ASSERT_FALSE(ctx.ok());
  EXPECT_NE(ctx.status().message().find("--tls-ca"), std::string::npos);
  EXPECT_NE(ctx.status().message().find("--insecure"), std::string::npos);
  TlsFiles files = pki_.Issue("node-1", kRoleStorage);
  files.key = dir_.Join("absent.key");
  ctx = TlsContext::Load(files);
  ASSERT_FALSE(ctx.ok());
  EXPECT_NE(ctx.status().message().find("absent.key"), std::string::npos) << ctx.status();
  TlsFiles insecure;
  insecure.insecure = true;
  EXPECT_TRUE(insecure.Validate().ok());
}

TEST_F(TlsStreamTest, IdentityComesFromTheCertificate) {
  TlsFiles files = pki_.Issue("worker-9", kRoleNode);
  std::string pem = syncblock::testing::ReadFile(files.cert);
  auto id = IdentityFromPem(pem);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->name, "worker-9");
  EXPECT_EQ(id->role, "node");
  EXPECT_EQ(id->ToString(), "worker-9 (node)");
  EXPECT_FALSE(IdentityFromPem("garbage").ok());
}

// A non-blocking write may leave records in the stream's write buffer when
// the socket is full; they are not lost: HasPendingOutput says so, and a
// Writev of nothing sends them (what the NBD writer thread does).
TEST_F(TlsStreamTest, WhatANonBlockingWriteLeavesBufferedIsSentByTheNextWritev) {
  Pair p;
  Connected c = Session(p, "server", "client");
  ASSERT_TRUE(c.server && c.client);
  std::string sent;
  bool pending = false;
  for (int i = 0; i < 4096 && !pending; ++i) {
    std::string chunk(64 * 1024, static_cast<char>('a' + i % 26));
    struct iovec iov {
      chunk.data(), chunk.size()
    };
    long taken = c.server->WritevSome(&iov, 1);
    ASSERT_GE(taken, 0);
    sent += chunk.substr(0, static_cast<size_t>(taken));
    pending = c.server->HasPendingOutput();
    if (taken < static_cast<long>(chunk.size()) && !pending) break;  // full, nothing held back
  }
  EXPECT_TRUE(pending) << "nobody reads: records wait in the buffer";
  auto reader = std::async(std::launch::async, [&] {
    std::string got(sent.size(), '\0');
    return c.client->ReadFull(got.data(), got.size()) ? got : std::string();
  });
  ASSERT_TRUE(c.server->Writev(nullptr, 0)) << "a Writev of nothing flushes";
  EXPECT_FALSE(c.server->HasPendingOutput());
  EXPECT_TRUE(reader.get() == sent) << "every byte taken arrives, in order";
}

TEST(PlainStreamTest, ReadsWritesAndStopsWhenTheSocketIsFull) {
  Pair p;
  PlainStream a(p.a), b(p.b);
  EXPECT_EQ(a.peer(), nullptr);
  ASSERT_TRUE(a.Write("hello", 5));
  char got[5];
  ASSERT_TRUE(b.ReadFull(got, 5));
  EXPECT_EQ(std::string(got, 5), "hello");
  std::vector<char> big(1 << 20, 'x');
  struct iovec iov {
    big.data(), big.size()
  };
  long taken = a.WritevSome(&iov, 1);
  EXPECT_GT(taken, 0);
  EXPECT_LT(taken, static_cast<long>(big.size())) << "nobody reads: the socket fills";
  close(p.b);
  p.b = -1;
  EXPECT_FALSE(a.Write("x", 1)) << "a closed peer fails the write, without SIGPIPE";
}

// Our certificates must satisfy GnuTLS and qemu's own checks (key usage,
// basic constraints), since qemu-io, nbdinfo and nbdcopy are the clients
// users point at our NBD port. nbdkit (GnuTLS) plays the server here.
TEST_F(TlsStreamTest, CertificatesSatisfyQemuAndLibnbd) {
  using syncblock::testing::HaveTool;
  if (!HaveTool("nbdkit") || !HaveTool("qemu-io") || !HaveTool("nbdinfo")) {
    GTEST_SKIP() << "nbdkit, qemu-io or nbdinfo missing";
  }
  // The directory layout both qemu's tls-creds-x509 and libnbd read.
  TempDir creds;
  TlsFiles server = pki_.Issue("node-1", kRoleStorage);
  TlsFiles client = pki_.Issue("admin", kRoleAdmin);
  auto copy = [](const std::string& from, const std::string& to) {
    syncblock::testing::WriteFile(to, syncblock::testing::ReadFile(from));
  };
  copy(pki_.ca_cert(), creds.Join("ca-cert.pem"));
  copy(server.cert, creds.Join("server-cert.pem"));
  copy(server.key, creds.Join("server-key.pem"));
  copy(client.cert, creds.Join("client-cert.pem"));
  copy(client.key, creds.Join("client-key.pem"));
  ASSERT_EQ(chmod(creds.Join("server-key.pem").c_str(), 0600), 0);
  ASSERT_EQ(chmod(creds.Join("client-key.pem").c_str(), 0600), 0);
  std::string disk = creds.Join("disk.img");
  ASSERT_EQ(syncblock::testing::RunCommand("truncate -s 16M " + disk).exit_code, 0);
  auto ports = PickFreePorts(1);
  ASSERT_TRUE(ports.ok());
  std::string port = std::to_string((*ports)[0]);
  syncblock::testing::Subprocess nbdkit({"nbdkit", "-f", "--tls=require",
                                         "--tls-certificates=" + creds.path(), "--tls-verify-peer",
                                         "-i", "127.0.0.1", "-p", port, "file", disk});
  ASSERT_TRUE(syncblock::testing::WaitFor(
      [&] {
        return ConnectTcp({"127.0.0.1", (*ports)[0]}, std::chrono::seconds(1)).ok();
      },
      std::chrono::seconds(20)));
  auto io = syncblock::testing::RunCommand(
      "qemu-io -f raw -c 'write -P 5 0 64k' -c 'read -P 5 0 64k' --object "
      "tls-creds-x509,id=tls0,endpoint=client,dir=" +
      creds.path() +
      " 'json:{\"file\":{\"driver\":\"nbd\",\"server\":{\"type\":\"inet\",\"host\":\"127.0.0.1\","
      "\"port\":\"" +
      port + "\"},\"tls-creds\":\"tls0\"}}'");
  EXPECT_EQ(io.exit_code, 0) << io.output;
  auto info = syncblock::testing::RunCommand("nbdinfo 'nbds://127.0.0.1:" + port +
                                             "/?tls-certificates=" + creds.path() + "'");
  EXPECT_EQ(info.exit_code, 0) << info.output;
  EXPECT_NE(info.output.find("with TLS"), std::string::npos) << info.output;
}

// A writer whose peer ended the session fails, it does not wait for room
// that never comes (it spun at 100 % CPU before: OpenSSL reports a write
// after the peer's close_notify, or an EOF taken as one, as ZERO_RETURN).
TEST_F(TlsStreamTest, AWriteAfterThePeerEndedTheSessionFails) {
  Pair p;
  Connected c = Session(p, "server", "client");
  ASSERT_TRUE(c.server && c.client);
  c.server->Close();  // close_notify
  char b;
  EXPECT_EQ(c.client->Read(&b, 1), 0) << "the reader sees the end";
  close(p.a);
  p.a = -1;
  std::string big(4 << 20, 'x');
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(c.client->Write(big.data(), big.size()));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

}  // namespace
}  // namespace syncblock::security
