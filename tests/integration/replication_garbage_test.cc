// Hostile input on a real three-node cluster: raw TCP connections to a
// secondary's replication port send garbage, truncated and corrupt frames,
// and hellos that are malformed, stale or of a foreign primary (never a valid
// hello of a newer epoch, which would legitimately take the volume over);
// garbage also goes to the NBD and gRPC control ports. After each case the
// daemons still run, a real NBD client still writes and reads the volume
// through its primary, the replicas stay identical, and the secondary's
// metrics count the frames it rejected.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "replication/security/certificates.h"
#include "replication/util/socket.h"
#include "replication/wire/hello.h"
#include "replication/wire/wire_format.h"
#include "tests/support/test_util.h"
#include "tests/support/tls_command_line.h"

namespace syncblock::testing {
namespace {

using json = nlohmann::json;
using repl::DecodeHeader;
using repl::EncodeFrame;
using repl::EncodeHeader;
using repl::EncodeHello;
using repl::FrameHeader;
using repl::FrameType;
using repl::HelloRequest;
using repl::WireStatus;

constexpr char kVolume[] = "v";

struct Node {
  std::string id;
  int control = 0, replication = 0, nbd = 0, metrics = 0;
  std::unique_ptr<Subprocess> process;
};

// A raw client connection; closed on destruction.
class RawConn {
 public:
  explicit RawConn(int port) {
    auto fd = ConnectTcp({"127.0.0.1", port}, std::chrono::seconds(5));
    EXPECT_TRUE(fd.ok()) << fd.status();
    fd_ = fd.ok() ? *fd : -1;
    // Bounds every read: a server that neither answers nor closes fails the
    // test instead of hanging it.
    timeval tv{10, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  ~RawConn() {
    if (fd_ >= 0) close(fd_);
  }
  bool Send(std::string_view bytes) {
    return fd_ >= 0 && WriteFull(fd_, bytes.data(), bytes.size()).ok();
  }
  void EndWrites() { shutdown(fd_, SHUT_WR); }
  // Reads until the server closes the connection; false if it does not
  // within the receive timeout. Whatever arrived is in `got`.
  bool ServerCloses(std::string* got = nullptr) {
    char buf[4096];
    while (true) {
      ssize_t n = read(fd_, buf, sizeof(buf));
      if (n > 0) {
        if (got) got->append(buf, n);
        continue;
      }
      if (n == 0) return true;
      if (errno == EINTR) continue;
      return errno == ECONNRESET || errno == EPIPE;
    }
  }
  // One whole frame from the server.
  bool ReadFrame(FrameHeader* h, std::string* payload) {
    uint8_t header[repl::kFrameHeaderSize];
    if (!ReadFull(fd_, header, sizeof(header)).ok()) return false;
    auto d = DecodeHeader(header);
    if (!d.ok()) {
      ADD_FAILURE() << "server sent a bad frame: " << d.status();
      return false;
    }
    *h = *d;
    payload->resize(h->payload_len);
    if (h->payload_len > 0 && !ReadFull(fd_, payload->data(), payload->size()).ok()) return false;
    return repl::VerifyPayload(*h, *payload).ok();
  }

 private:
  int fd_ = -1;
};

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(rng());
  return out;
}

class ReplicationGarbageTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    setup_error_ = new std::string();
    nodes_ = new std::vector<Node>(3);
    // Plaintext: this suite feeds malformed frames to the frame decoders
    // and the NBD parser; over TLS they would stop at the handshake (that
    // refusal is ReplicationTlsTest's and NbdTlsTest's), or need a storage
    // node's certificate and the volume's primary's name to get further.
    const security::TlsFiles plaintext{"", "", "", /*insecure=*/true};
    admin_flags_ = new std::string(TlsFlagString(plaintext));
    std::vector<std::string> controls;
    for (int i = 0; i < 3; ++i) {
      Node& n = (*nodes_)[i];
      n.id = "n" + std::to_string(i + 1);
      n.control = FreePort();
      n.replication = FreePort();
      n.nbd = FreePort();
      n.metrics = FreePort();
      auto addr = [](int port) { return "127.0.0.1:" + std::to_string(port); };
      n.process = std::make_unique<Subprocess>(
          WithTls({SyncblockBinary(), "storage", "--node-id", n.id, "--data-dir", dir_->Join(n.id),
                   "--listen", addr(n.control), "--replication-listen", addr(n.replication),
                   "--nbd-listen", addr(n.nbd), "--metrics-listen", addr(n.metrics), "--zone",
                   "zone-" + std::to_string(i), "--io-timeout-ms", "10000"},
                  plaintext),
          dir_->Join(n.id + ".log"));
      controls.push_back(addr(n.control));
    }
    storage_nodes_ = new std::string(absl::StrJoin(controls, ","));
    CommandResult last;
    bool up = WaitFor(
        [&last] {
          auto r = RunCommand(CtlCmd("node list -o json 2>/dev/null"), std::chrono::seconds(30));
          last = r;
          if (r.exit_code != 0) return false;
          try {
            int reachable = 0;
            json parsed = json::parse(r.output);
            for (const auto& n : parsed.at("nodes")) {
              if (n.at("reachable").get<bool>()) ++reachable;
            }
            return reachable == 3;
          } catch (const json::exception& e) {
            last.output += std::string("\n") + e.what();
            return false;
          }
        },
        std::chrono::seconds(60));
    if (!up) {
      *setup_error_ = absl::StrCat("storage nodes did not come up: ", last.output,
                                   "\nn1's log: ", ReadFile(dir_->Join("n1.log")));
      return;
    }
    auto create =
        RunCommand(CtlCmd(absl::StrCat("volume create ", kVolume, " --size 64M --replicas 3")),
                   std::chrono::seconds(120));
    if (create.exit_code != 0) {
      *setup_error_ = "volume create: " + create.output;
      return;
    }
    // A second epoch, so that a hello of the first one is stale (epoch 0 is
    // not a valid epoch at all).
    json before = Show();
    std::string target;
    for (const auto& n : *nodes_) {
      if (n.id != before.value("primary", "")) {
        target = n.id;
        break;
      }
    }
    WaitInSync();
    auto promote = RunCommand(CtlCmd(absl::StrCat("promote ", kVolume, " ", target)),
                              std::chrono::seconds(120));
    if (promote.exit_code != 0) {
      *setup_error_ = "promote: " + promote.output;
      return;
    }
    WaitInSync();
  }

  static void TearDownTestSuite() {
    delete nodes_;  // SIGKILLs every daemon
    nodes_ = nullptr;
    delete storage_nodes_;
    delete setup_error_;
    delete dir_;
  }

  void SetUp() override {
    ASSERT_TRUE(setup_error_->empty()) << *setup_error_;
    volume_ = Show();
    ASSERT_GE(volume_.value("epoch", 0), 2) << volume_.dump();
    primary_ = nullptr;
    secondary_ = nullptr;
    for (auto& n : *nodes_) {
      if (n.id == volume_["primary"]) {
        primary_ = &n;
      } else if (!secondary_) {
        secondary_ = &n;
      }
    }
    ASSERT_NE(primary_, nullptr) << volume_.dump();
    ASSERT_NE(secondary_, nullptr);
    rejected_before_ = RejectedFrames(*secondary_);
    ASSERT_GE(rejected_before_, 0) << "no frames-rejected counter in the secondary's /metrics";
  }

  // Whatever the case did: every daemon runs, the volume serves IO through
  // its primary, and the replicas are identical.
  void TearDown() override {
    if (!setup_error_->empty() || primary_ == nullptr) return;
    for (auto& n : *nodes_) {
      EXPECT_TRUE(n.process->Running())
          << n.id << " died; log: " << ReadFile(dir_->Join(n.id + ".log"));
    }
    ++round_;
    std::string pattern = absl::StrCat("0x", absl::Hex(0x10 + round_ % 0xe0));
    std::string offset = absl::StrCat(round_ * 64, "k");
    std::string uri = volume_.value("nbd_uri", "");
    auto io =
        RunCommand(absl::StrCat("qemu-io -f raw '", uri, "' -c 'write -P ", pattern, " ", offset,
                                " 64k' -c 'read -P ", pattern, " ", offset, " 64k' 2>&1"),
                   std::chrono::seconds(60));
    EXPECT_EQ(io.exit_code, 0) << io.output << "\nvolume: " << volume_.dump();
    EXPECT_NE(io.output.find("wrote 65536/65536 bytes"), std::string::npos) << io.output;
    EXPECT_NE(io.output.find("read 65536/65536 bytes"), std::string::npos) << io.output;
    EXPECT_EQ(io.output.find("Pattern verification failed"), std::string::npos) << io.output;
    ExpectIdentical();
  }

  static std::string CtlCmd(const std::string& args) {
    return absl::StrCat(SyncblockBinary(), " ctl --storage-nodes ", *storage_nodes_, *admin_flags_,
                        " ", args);
  }
  static json Show() {
    auto r = RunCommand(CtlCmd(absl::StrCat("volume show ", kVolume, " -o json 2>/dev/null")),
                        std::chrono::seconds(60));
    try {
      return json::parse(r.output);
    } catch (const json::exception&) {
      ADD_FAILURE() << "volume show: " << r.output;
      return json::object();
    }
  }
  static void WaitInSync() {
    RunCommand(
        CtlCmd(absl::StrCat("resync-status ", kVolume, " --watch --interval-ms 200 --timeout 60")),
        std::chrono::seconds(90));
  }
  // A secondary may apply the last write just after the primary acknowledged
  // it (a majority is enough), so wait for the replicas to settle; a real
  // difference never goes away.
  void ExpectIdentical() {
    WaitInSync();
    CommandResult last;
    bool identical = WaitFor(
        [&] {
          last = RunCommand(CtlCmd(absl::StrCat("verify ", kVolume, " -o json 2>/dev/null")),
                            std::chrono::seconds(60));
          try {
            return last.exit_code == 0 && json::parse(last.output).value("identical", false);
          } catch (const json::exception&) {
            return false;
          }
        },
        std::chrono::seconds(30));
    EXPECT_TRUE(identical) << last.output;
  }

  // syncblock_replication_frames_rejected_total of `n`, or -1.
  static int64_t RejectedFrames(const Node& n) {
    RawConn c(n.metrics);
    c.Send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    std::string response;
    if (!c.ServerCloses(&response)) return -1;
    const std::string name = "syncblock_replication_frames_rejected_total{";
    for (size_t pos = response.find(name); pos != std::string::npos;
         pos = response.find(name, pos + 1)) {
      if (pos > 0 && response[pos - 1] != '\n') continue;  // a comment line
      size_t space = response.find(' ', pos);
      size_t end = response.find('\n', space);
      if (space == std::string::npos) return -1;
      return std::stoll(response.substr(space + 1, end - space - 1));
    }
    return -1;
  }
  void ExpectRejectedGrewBy(int64_t n) {
    int64_t now = -1;
    // The counter moves when the server's connection thread gives up, which
    // may be just after our side saw the close.
    WaitFor([&] { return (now = RejectedFrames(*secondary_)) >= rejected_before_ + n; },
            std::chrono::seconds(10));
    EXPECT_GE(now, rejected_before_ + n);
  }

  FrameHeader HelloHeader() const {
    FrameHeader h;
    h.type = FrameType::kHello;
    h.epoch = volume_.value("epoch", uint64_t{0});
    return h;
  }
  HelloRequest HelloFrom(const std::string& primary, uint64_t epoch) const {
    HelloRequest h;
    h.volume_id = kVolume;
    h.epoch = epoch;
    h.primary_node_id = primary;
    h.size_bytes = volume_.value("size_bytes", uint64_t{0});
    h.region_size = 64 * 1024;
    h.create_if_missing = false;
    for (const auto& n : *nodes_) {
      h.members.push_back({n.id, absl::StrCat("127.0.0.1:", n.control),
                           absl::StrCat("127.0.0.1:", n.replication),
                           absl::StrCat("127.0.0.1:", n.nbd), ""});
    }
    return h;
  }
  // Sends a hello and returns the decoded reply; the server then closes.
  repl::HelloReply HelloRoundTrip(const HelloRequest& hello) {
    RawConn c(secondary_->replication);
    EXPECT_TRUE(c.Send(EncodeFrame(HelloHeader(), EncodeHello(hello))));
    FrameHeader h;
    std::string payload;
    repl::HelloReply reply;
    reply.status = WireStatus::kOk;
    if (!c.ReadFrame(&h, &payload)) {
      ADD_FAILURE() << "no hello reply";
      return reply;
    }
    EXPECT_EQ(h.type, FrameType::kHelloReply);
    auto decoded = repl::DecodeHelloReply(payload);
    EXPECT_TRUE(decoded.ok()) << decoded.status() << ": " << payload;
    if (decoded.ok()) reply = *decoded;
    EXPECT_TRUE(c.ServerCloses()) << "a refused hello ends the connection";
    return reply;
  }

  static TempDir* dir_;
  static std::vector<Node>* nodes_;
  static std::string* storage_nodes_;
  static std::string* admin_flags_;
  static std::string* setup_error_;
  static int round_;
  json volume_;
  Node* primary_ = nullptr;
  Node* secondary_ = nullptr;
  int64_t rejected_before_ = -1;
};

TempDir* ReplicationGarbageTest::dir_ = nullptr;
std::vector<Node>* ReplicationGarbageTest::nodes_ = nullptr;
std::string* ReplicationGarbageTest::storage_nodes_ = nullptr;
std::string* ReplicationGarbageTest::admin_flags_ = nullptr;
std::string* ReplicationGarbageTest::setup_error_ = nullptr;
int ReplicationGarbageTest::round_ = 0;

TEST_F(ReplicationGarbageTest, RandomBytesCloseTheConnection) {
  RawConn c(secondary_->replication);
  c.Send(RandomBytes(4096, 1));
  std::string got;
  EXPECT_TRUE(c.ServerCloses(&got));
  EXPECT_TRUE(got.empty()) << "nothing is answered to garbage";
  ExpectRejectedGrewBy(1);
}

TEST_F(ReplicationGarbageTest, TruncatedHeaderIsDropped) {
  std::string frame = EncodeFrame(HelloHeader(), EncodeHello(HelloFrom("intruder", 1)));
  RawConn c(secondary_->replication);
  c.Send(frame.substr(0, 20));
  c.EndWrites();
  EXPECT_TRUE(c.ServerCloses());
}

TEST_F(ReplicationGarbageTest, HeaderWithABadChecksumIsRejected) {
  std::string frame = EncodeFrame(HelloHeader(), EncodeHello(HelloFrom("intruder", 1)));
  frame[52] ^= 0x01;
  RawConn c(secondary_->replication);
  c.Send(frame);
  std::string got;
  EXPECT_TRUE(c.ServerCloses(&got));
  EXPECT_TRUE(got.empty());
  ExpectRejectedGrewBy(1);
}

TEST_F(ReplicationGarbageTest, OversizedPayloadIsRefusedBeforeItIsRead) {
  FrameHeader h = HelloHeader();
  h.payload_len = repl::kMaxPayload + 1;
  uint8_t header[repl::kFrameHeaderSize];
  EncodeHeader(h, header);
  RawConn c(secondary_->replication);
  c.Send(std::string_view(reinterpret_cast<char*>(header), sizeof(header)));
  // No payload follows: a server that waited for it would not close.
  EXPECT_TRUE(c.ServerCloses());
  ExpectRejectedGrewBy(1);
}

TEST_F(ReplicationGarbageTest, HelloWithInvalidJsonIsRejected) {
  for (std::string payload : {std::string("{\"volume_id\": \"v\", \"epoch\": "), std::string("[]"),
                              RandomBytes(300, 2), std::string("{}")}) {
    RawConn c(secondary_->replication);
    c.Send(EncodeFrame(HelloHeader(), payload));
    std::string got;
    EXPECT_TRUE(c.ServerCloses(&got)) << payload;
  }
  ExpectRejectedGrewBy(4);
}

TEST_F(ReplicationGarbageTest, HelloWithABadPayloadChecksumIsRejected) {
  std::string frame = EncodeFrame(HelloHeader(), EncodeHello(HelloFrom("intruder", 1)));
  frame.back() ^= 0x20;  // the header is intact, the payload is not
  RawConn c(secondary_->replication);
  c.Send(frame);
  std::string got;
  EXPECT_TRUE(c.ServerCloses(&got));
  EXPECT_TRUE(got.empty());
  ExpectRejectedGrewBy(1);
}

TEST_F(ReplicationGarbageTest, WriteWithoutAHelloIsNotApplied) {
  // A well-formed write of the current epoch, but with no hello first: the
  // secondary must not apply it (ExpectIdentical in TearDown checks that the
  // replicas still match, which they would not if it had been written).
  FrameHeader h;
  h.type = FrameType::kWrite;
  h.epoch = volume_.value("epoch", uint64_t{0});
  h.seq = 1;
  h.offset = 32 << 20;
  h.length = 4096;
  RawConn c(secondary_->replication);
  c.Send(EncodeFrame(h, std::string(4096, '\xee')));
  std::string got;
  EXPECT_TRUE(c.ServerCloses(&got));
  EXPECT_TRUE(got.empty());
  ExpectRejectedGrewBy(1);
}

TEST_F(ReplicationGarbageTest, StaleHelloIsAnsweredWithStaleEpoch) {
  uint64_t epoch = volume_.value("epoch", uint64_t{0});
  repl::HelloReply reply = HelloRoundTrip(HelloFrom(volume_["primary"], epoch - 1));
  EXPECT_EQ(reply.status, WireStatus::kStaleEpoch) << reply.message;
  EXPECT_EQ(reply.epoch, epoch);
  EXPECT_EQ(Show().value("epoch", uint64_t{0}), epoch) << "nothing changed";
}

TEST_F(ReplicationGarbageTest, HelloOfAnotherPrimaryAtTheSameEpochIsAConflict) {
  uint64_t epoch = volume_.value("epoch", uint64_t{0});
  repl::HelloReply reply = HelloRoundTrip(HelloFrom("intruder", epoch));
  EXPECT_EQ(reply.status, WireStatus::kConflict) << reply.message;
  json after = Show();
  EXPECT_EQ(after["primary"], volume_["primary"]);
  EXPECT_EQ(after.value("epoch", uint64_t{0}), epoch);
}

TEST_F(ReplicationGarbageTest, HelloForAnUnknownVolumeIsNotFound) {
  HelloRequest hello = HelloFrom("intruder", 1);
  hello.volume_id = "no-such-volume";
  repl::HelloReply reply = HelloRoundTrip(hello);
  EXPECT_EQ(reply.status, WireStatus::kNotFound) << reply.message;
  // Asked to create it, a node that the member list does not name refuses too.
  hello.create_if_missing = true;
  hello.members.erase(
      std::remove_if(hello.members.begin(), hello.members.end(),
                     [&](const repl::MemberInfo& m) { return m.node_id == secondary_->id; }),
      hello.members.end());
  reply = HelloRoundTrip(hello);
  EXPECT_EQ(reply.status, WireStatus::kNotFound) << reply.message;
  auto list = RunCommand(CtlCmd("volume list -o json 2>/dev/null"), std::chrono::seconds(60));
  EXPECT_EQ(list.output.find("no-such-volume"), std::string::npos) << list.output;
}

TEST_F(ReplicationGarbageTest, IdleAndManyGarbageConnectionsDoNotStopReplication) {
  // Connections that never send a byte stay open through TearDown's IO,
  // which replicates through the same port.
  std::vector<std::unique_ptr<RawConn>> idle;
  for (int i = 0; i < 8; ++i) idle.push_back(std::make_unique<RawConn>(secondary_->replication));
  std::vector<std::unique_ptr<RawConn>> garbage;
  for (int i = 0; i < 32; ++i) {
    garbage.push_back(std::make_unique<RawConn>(secondary_->replication));
    garbage.back()->Send(RandomBytes(100 + i * 7, 100 + i));
  }
  for (auto& c : garbage) EXPECT_TRUE(c->ServerCloses());
  ExpectRejectedGrewBy(32);
  for (auto& n : *nodes_) EXPECT_TRUE(n.process->Running()) << n.id;
  // Writes while the idle connections are still open.
  auto io = RunCommand(absl::StrCat("qemu-io -f raw '", volume_.value("nbd_uri", ""),
                                    "' -c 'write -P 0x77 40M 1M' -c 'read -P 0x77 40M 1M' 2>&1"),
                       std::chrono::seconds(60));
  EXPECT_EQ(io.exit_code, 0) << io.output;
  EXPECT_EQ(io.output.find("Pattern verification failed"), std::string::npos) << io.output;
  ExpectIdentical();
}

TEST_F(ReplicationGarbageTest, GarbageOnTheNbdPortsIsSurvived) {
  for (const Node* n : {primary_, secondary_}) {
    for (uint32_t seed : {11u, 12u, 13u}) {
      RawConn c(n->nbd);
      c.Send(RandomBytes(2048, seed));
      c.EndWrites();
      EXPECT_TRUE(c.ServerCloses()) << n->id;
    }
    // A client that stops in the middle of the handshake.
    RawConn half(n->nbd);
    half.Send(std::string("\0\0\0\x03IHAVEOPT", 12));
  }
}

TEST_F(ReplicationGarbageTest, GarbageOnTheControlPortsIsSurvived) {
  for (const Node* n : {primary_, secondary_}) {
    for (uint32_t seed : {21u, 22u}) {
      RawConn c(n->control);
      c.Send(RandomBytes(4096, seed));
      c.EndWrites();
      EXPECT_TRUE(c.ServerCloses()) << n->id;
    }
    // The HTTP/2 preface, then a garbage frame.
    RawConn h2(n->control);
    h2.Send(std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + RandomBytes(512, 23));
    h2.EndWrites();
    EXPECT_TRUE(h2.ServerCloses()) << n->id;
  }
  // The control API still answers.
  auto nodes = RunCommand(CtlCmd("node list -o json 2>/dev/null"), std::chrono::seconds(60));
  EXPECT_EQ(nodes.exit_code, 0) << nodes.output;
}

}  // namespace
}  // namespace syncblock::testing
