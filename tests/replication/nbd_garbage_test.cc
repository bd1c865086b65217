// Malformed and hostile NBD clients over raw sockets: truncated handshakes,
// wrong magic, unknown flags, oversized options, bad option data, unknown
// commands, bad flags, out-of-range and oversized requests, and random bytes.
// Each case checks the server's answer (an error reply or a closed
// connection), and afterwards a good client is still served.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "replication/nbd/nbd_protocol.h"
#include "replication/nbd/nbd_server.h"
#include "tests/replication/nbd_raw_client.h"
#include "tests/replication/nbd_test_device.h"
#include "tests/support/test_util.h"

namespace syncblock::repl {
namespace {

using nbdtest::FileBlockDevice;
using nbdtest::MapExportProvider;
using nbdtest::RawNbdClient;
namespace n = nbd;

constexpr uint64_t kSize = 4 << 20;

class NbdGarbageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    provider_ = std::make_shared<MapExportProvider>();
    device_ = std::make_shared<FileBlockDevice>(dir_.Join("vol.img"), kSize);
    provider_->Add("vol", device_);
    NbdServer::Options options;
    options.handshake_timeout = std::chrono::milliseconds(2000);
    server_ = std::make_unique<NbdServer>(provider_, options);
    ASSERT_TRUE(server_->Listen("127.0.0.1", 0).ok());
  }
  void TearDown() override {
    ExpectGoodClientServed();
    server_->Stop();
  }

  void ExpectGoodClientServed() {
    RawNbdClient good(server_->port());
    ASSERT_TRUE(good.Go("vol"));
    EXPECT_EQ(good.size, kSize);
    EXPECT_TRUE(good.WriteReadBack(12345, "still serving"));
    good.Send(RawNbdClient::Request(n::kCmdDisc, 0, 0, 0));
    EXPECT_TRUE(good.WaitClosed());
  }

  // A connection in the transmission phase.
  std::unique_ptr<RawNbdClient> Transmitting() {
    auto c = std::make_unique<RawNbdClient>(server_->port());
    EXPECT_TRUE(c->Go("vol"));
    return c;
  }

  uint32_t ReplyError(RawNbdClient& c, uint64_t handle) {
    auto reply = c.ReadReply();
    if (!reply) {
      ADD_FAILURE() << "no reply";
      return 0xffffffffu;
    }
    EXPECT_EQ(reply->handle, handle);
    return reply->error;
  }

  uint32_t OptionReplyType(RawNbdClient& c, uint32_t option) {
    auto reply = c.ReadOptionReply();
    if (!reply) {
      ADD_FAILURE() << "no option reply";
      return 0;
    }
    EXPECT_EQ(reply->option, option);
    return reply->type;
  }

  syncblock::testing::TempDir dir_;
  std::shared_ptr<MapExportProvider> provider_;
  std::shared_ptr<FileBlockDevice> device_;
  std::unique_ptr<NbdServer> server_;
};

TEST_F(NbdGarbageTest, ConnectAndLeave) {
  for (int i = 0; i < 20; ++i) {
    RawNbdClient c(server_->port());
    ASSERT_TRUE(c.connected());
  }
}

TEST_F(NbdGarbageTest, TruncatedClientFlags) {
  RawNbdClient c(server_->port());
  ASSERT_TRUE(c.Recv(n::kGreetingSize).has_value());
  ASSERT_TRUE(c.Send(std::string(2, '\0')));
}

TEST_F(NbdGarbageTest, UnknownClientFlagsCloseTheConnection) {
  RawNbdClient c(server_->port());
  ASSERT_TRUE(c.Greet(n::kClientFlagFixedNewstyle | (1u << 7)));
  EXPECT_TRUE(c.WaitClosed());
}

TEST_F(NbdGarbageTest, SilentClientIsDroppedAfterTheHandshakeTimeout) {
  RawNbdClient c(server_->port(), /*timeout_ms=*/30000);
  ASSERT_TRUE(c.Greet());
  EXPECT_TRUE(c.WaitClosed());
}

TEST_F(NbdGarbageTest, WrongOptionMagicClosesTheConnection) {
  RawNbdClient c(server_->port());
  ASSERT_TRUE(c.Greet());
  std::string option = RawNbdClient::Option(n::kOptList, "");
  option[0] = 'J';
  ASSERT_TRUE(c.Send(option));
  EXPECT_TRUE(c.WaitClosed());
}

TEST_F(NbdGarbageTest, TruncatedOptionThenClose) {
  RawNbdClient c(server_->port());
  ASSERT_TRUE(c.Greet());
  std::string option = RawNbdClient::Option(n::kOptGo, RawNbdClient::InfoData("vol", {}));
  ASSERT_TRUE(c.Send(option.substr(0, option.size() - 3)));
}

TEST_F(NbdGarbageTest, OversizedOptionIsTooBigThenConnectionStillWorks) {
  RawNbdClient c(server_->port());
  ASSERT_TRUE(c.Greet());
  ASSERT_TRUE(c.Send(RawNbdClient::Option(n::kOptInfo, std::string(200000, 'x'))));
  EXPECT_EQ(OptionReplyType(c, n::kOptInfo), n::kRepErrTooBig);
  // The data was consumed: the same connection continues.
  ASSERT_TRUE(c.Send(RawNbdClient::Option(n::kOptGo, RawNbdClient::InfoData("vol", {}))));
  while (true) {
    auto r = c.ReadOptionReply();
    ASSERT_TRUE(r.has_value());
    if (r->type == n::kRepAck) break;
    ASSERT_EQ(r->type, n::kRepInfo);
  }
  EXPECT_TRUE(c.WriteReadBack(0, "ok"));
}

TEST_F(NbdGarbageTest, AbsurdOptionLengthClosesTheConnection) {
  RawNbdClient c(server_->port());
  ASSERT_TRUE(c.Greet());
  std::string header;
  n::PutU64(header, n::kOptMagic);
  n::PutU32(header, n::kOptGo);
  n::PutU32(header, 0xffffffffu);
  ASSERT_TRUE(c.Send(header + "abc"));
  EXPECT_TRUE(c.WaitClosed());
}

TEST_F(NbdGarbageTest, HugeExportNameClosesTheConnection) {
  RawNbdClient c(server_->port());
  ASSERT_TRUE(c.Greet());
  ASSERT_TRUE(c.Send(RawNbdClient::Option(n::kOptExportName, std::string(70000, 'v'))));
  EXPECT_TRUE(c.WaitClosed());
}

TEST_F(NbdGarbageTest, UnknownExportNameClosesAndUnknownGoIsErrUnknown) {
  {
    RawNbdClient c(server_->port());
    ASSERT_TRUE(c.Greet());
    ASSERT_TRUE(c.Send(RawNbdClient::Option(n::kOptExportName, "nope")));
    EXPECT_TRUE(c.WaitClosed());
  }
  RawNbdClient c(server_->port());
  ASSERT_TRUE(c.Greet());
  ASSERT_TRUE(c.Send(RawNbdClient::Option(n::kOptGo, RawNbdClient::InfoData("nope", {}))));
  auto r = c.ReadOptionReply();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->type, n::kRepErrUnknown);
  EXPECT_NE(r->data.find("nope"), std::string::npos);
}

TEST_F(NbdGarbageTest, OptionErrorsKeepTheSessionUsable) {
  RawNbdClient c(server_->port());
  ASSERT_TRUE(c.Greet());
  struct Case {
    uint32_t option;
    std::string data;
    uint32_t reply;
  };
  std::string bad_count = RawNbdClient::InfoData("vol", {n::kInfoName});
  bad_count[4 + 3 + 1] = 9;
  std::vector<Case> cases = {
      {n::kOptStructuredReply, "", n::kRepErrUnsup},
      {n::kOptListMetaContext, std::string(12, '\0'), n::kRepErrUnsup},
      {n::kOptSetMetaContext, "", n::kRepErrUnsup},
      {n::kOptStartTls, "", n::kRepErrUnsup},
      {n::kOptStartTls, "data", n::kRepErrInvalid},
      {n::kOptList, "data", n::kRepErrInvalid},
      {n::kOptInfo, "ab", n::kRepErrInvalid},
      {n::kOptGo, bad_count, n::kRepErrInvalid},
      {n::kOptGo, RawNbdClient::InfoData(std::string("v\0l", 3), {}), n::kRepErrInvalid},
      {4, "", n::kRepErrUnsup},
      {0x7fffffff, std::string(1000, 'z'), n::kRepErrUnsup},
  };
  for (const Case& k : cases) {
    ASSERT_TRUE(c.Send(RawNbdClient::Option(k.option, k.data)));
    EXPECT_EQ(OptionReplyType(c, k.option), k.reply) << "option " << k.option;
  }
  ASSERT_TRUE(c.Send(RawNbdClient::Option(n::kOptList, "")));
  EXPECT_EQ(OptionReplyType(c, n::kOptList), n::kRepServer);
  EXPECT_EQ(OptionReplyType(c, n::kOptList), n::kRepAck);
  ASSERT_TRUE(c.Send(RawNbdClient::Option(n::kOptAbort, "")));
  EXPECT_EQ(OptionReplyType(c, n::kOptAbort), n::kRepAck);
  EXPECT_TRUE(c.WaitClosed());
}

TEST_F(NbdGarbageTest, WrongRequestMagicClosesTheConnection) {
  auto c = Transmitting();
  std::string request = RawNbdClient::Request(n::kCmdRead, 1, 0, 512);
  request[0] = 0;
  ASSERT_TRUE(c->Send(request));
  EXPECT_TRUE(c->WaitClosed());
}

TEST_F(NbdGarbageTest, BadRequestsGetErrorsAndTheConnectionContinues) {
  auto c = Transmitting();
  struct Case {
    std::string bytes;
    uint32_t error;
  };
  std::vector<Case> cases = {
      {RawNbdClient::Request(99, 1, 0, 512), n::kEinval},
      {RawNbdClient::Request(n::kCmdCache, 2, 0, 512), n::kEinval},
      {RawNbdClient::Request(n::kCmdBlockStatus, 3, 0, 512), n::kEinval},
      {RawNbdClient::Request(n::kCmdRead, 4, 0, 512, n::kCmdFlagDf), n::kEinval},
      {RawNbdClient::Request(n::kCmdWriteZeroes, 5, 0, 512, n::kCmdFlagFastZero), n::kEinval},
      {RawNbdClient::Request(n::kCmdRead, 6, kSize, 1), n::kEinval},
      {RawNbdClient::Request(n::kCmdRead, 7, ~0ull, 512), n::kEinval},
      {RawNbdClient::Request(n::kCmdTrim, 8, kSize - 1, 2), n::kEinval},
      {RawNbdClient::Request(n::kCmdWriteZeroes, 9, kSize, 512), n::kEnospc},
      {RawNbdClient::Request(n::kCmdRead, 10, 0, (32u << 20) + 1), n::kEinval},
      // Payloads of refused writes are consumed, keeping the stream in step.
      {RawNbdClient::Request(n::kCmdWrite, 11, kSize - 2, 4) + "wxyz", n::kEnospc},
      {RawNbdClient::Request(n::kCmdWrite, 12, 0, 4, n::kCmdFlagNoHole) + "wxyz", n::kEinval},
      {RawNbdClient::Request(n::kCmdWrite, 13, 0, (32u << 20) + 4) +
           std::string((32u << 20) + 4, 'W'),
       n::kEinval},
      // Zero-length requests succeed without touching anything.
      {RawNbdClient::Request(n::kCmdWrite, 14, 0, 0), 0},
      {RawNbdClient::Request(n::kCmdRead, 15, 0, 0), 0},
  };
  uint64_t handle = 1;
  for (const Case& k : cases) {
    ASSERT_TRUE(c->Send(k.bytes));
    EXPECT_EQ(ReplyError(*c, handle), k.error) << "case with handle " << handle;
    ++handle;
  }
  EXPECT_TRUE(c->WriteReadBack(0, "consumed", 100));
  EXPECT_EQ(device_->submitted(), 2u);  // only the good write and read
}

TEST_F(NbdGarbageTest, HugeWriteClosesTheConnection) {
  auto c = Transmitting();
  ASSERT_TRUE(c->Send(RawNbdClient::Request(n::kCmdWrite, 1, 0, 0xffffffffu) + "short"));
  EXPECT_TRUE(c->WaitClosed());
}

TEST_F(NbdGarbageTest, TruncatedRequestAndPayloadThenClose) {
  {
    auto c = Transmitting();
    ASSERT_TRUE(c->Send(RawNbdClient::Request(n::kCmdRead, 1, 0, 512).substr(0, 20)));
  }
  auto c = Transmitting();
  ASSERT_TRUE(c->Send(RawNbdClient::Request(n::kCmdWrite, 1, 0, 4096) + "partial"));
}

TEST_F(NbdGarbageTest, ClientThatNeverReadsDoesNotBlockOthers) {
  auto greedy = Transmitting();
  // Ask for far more reply data than the socket buffers hold, never read it.
  std::string batch;
  for (uint64_t i = 0; i < 64; ++i) batch += RawNbdClient::Request(n::kCmdRead, i, 0, 1 << 20);
  ASSERT_TRUE(greedy->Send(batch));
  ExpectGoodClientServed();
}

TEST_F(NbdGarbageTest, RandomBytes) {
  std::mt19937 rng(20261122);
  for (int round = 0; round < 40; ++round) {
    std::string junk(1 + rng() % 4096, '\0');
    for (char& ch : junk) ch = static_cast<char>(rng());
    if (round % 2 == 0) {
      // Junk where the handshake expects client flags and options.
      RawNbdClient c(server_->port(), 2000);
      c.Send(junk);
    } else {
      // A valid option header prefix, then junk as data.
      auto c = Transmitting();
      c->Send(junk);
    }
  }
  for (int round = 0; round < 20; ++round) {
    // Valid option headers with random option numbers and data.
    RawNbdClient c(server_->port());
    ASSERT_TRUE(c.Greet());
    std::string data(rng() % 64, '\0');
    for (char& ch : data) ch = static_cast<char>(rng());
    uint32_t option = rng() % 16;
    if (option == n::kOptExportName || option == n::kOptGo || option == n::kOptAbort) continue;
    ASSERT_TRUE(c.Send(RawNbdClient::Option(option, data)));
    auto reply = c.ReadOptionReply();
    ASSERT_TRUE(reply.has_value()) << "option " << option;
  }
}

}  // namespace
}  // namespace syncblock::repl
