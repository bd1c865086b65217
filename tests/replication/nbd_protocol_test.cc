// Unit tests of the socket-free parts of the NBD server: wire parsing and
// encoding, request validation, status mapping, the option-haggling state
// machine, and the metrics counters.
#include "replication/nbd/nbd_protocol.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>

#include "replication/nbd/nbd_handshake.h"
#include "replication/nbd/nbd_stats.h"
#include "tests/replication/nbd_raw_client.h"
#include "tests/replication/nbd_test_device.h"
#include "tests/support/test_util.h"

namespace syncblock::repl::nbd {
namespace {

using nbdtest::RawNbdClient;

TEST(NbdProtocolTest, GreetingIsNewstyleWithFixedAndNoZeroes) {
  std::string g = EncodeGreeting();
  ASSERT_EQ(g.size(), kGreetingSize);
  EXPECT_EQ(g.substr(0, 8), "NBDMAGIC");
  EXPECT_EQ(g.substr(8, 8), "IHAVEOPT");
  EXPECT_EQ(LoadU16(g.data() + 16), kFlagFixedNewstyle | kFlagNoZeroes);
}

TEST(NbdProtocolTest, ClientFlags) {
  EXPECT_TRUE(CheckClientFlags(0).ok());
  EXPECT_TRUE(CheckClientFlags(kClientFlagFixedNewstyle | kClientFlagNoZeroes).ok());
  EXPECT_FALSE(CheckClientFlags(1u << 2).ok());
  EXPECT_FALSE(CheckClientFlags(0x80000001u).ok());
}

TEST(NbdProtocolTest, OptionHeader) {
  std::string bytes = RawNbdClient::Option(kOptGo, "");
  auto header = ParseOptionHeader(bytes);
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(header->option, kOptGo);
  EXPECT_EQ(header->length, 0u);
  bytes[0] = 'X';
  EXPECT_FALSE(ParseOptionHeader(bytes).ok());
  EXPECT_FALSE(ParseOptionHeader(bytes.substr(0, 15)).ok());
}

TEST(NbdProtocolTest, InfoRequest) {
  auto ok = ParseInfoRequest(RawNbdClient::InfoData("vol", {kInfoName, kInfoBlockSize, kInfoName}));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->name, "vol");
  EXPECT_EQ(ok->info_types, (std::vector<uint16_t>{kInfoName, kInfoBlockSize}));

  EXPECT_FALSE(ParseInfoRequest("").ok());
  EXPECT_FALSE(ParseInfoRequest(std::string(5, '\0')).ok());
  // Name length runs past the data.
  std::string overrun;
  PutU32(overrun, 100);
  overrun += "ab";
  PutU16(overrun, 0);
  EXPECT_FALSE(ParseInfoRequest(overrun).ok());
  // Name length 0xffffffff must not overflow the bounds check.
  std::string huge;
  PutU32(huge, 0xffffffffu);
  PutU16(huge, 0);
  EXPECT_FALSE(ParseInfoRequest(huge).ok());
  // Count says 2 requests, data holds 1.
  std::string short_list = RawNbdClient::InfoData("v", {kInfoName});
  short_list[4 + 1 + 1] = 2;
  EXPECT_FALSE(ParseInfoRequest(short_list).ok());
  // Trailing junk.
  EXPECT_FALSE(ParseInfoRequest(RawNbdClient::InfoData("v", {}) + "x").ok());
  // NUL inside the name.
  EXPECT_FALSE(ParseInfoRequest(RawNbdClient::InfoData(std::string("a\0b", 3), {})).ok());
  // Names over 4096 bytes.
  EXPECT_FALSE(ParseInfoRequest(RawNbdClient::InfoData(std::string(4097, 'n'), {})).ok());
  EXPECT_TRUE(ParseInfoRequest(RawNbdClient::InfoData(std::string(4096, 'n'), {})).ok());
}

TEST(NbdProtocolTest, RequestHeaderRoundTrip) {
  std::string bytes =
      RawNbdClient::Request(kCmdWrite, 0x0102030405060708ull, 1ull << 40, 4096, kCmdFlagFua);
  auto r = ParseRequestHeader(bytes);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->type, kCmdWrite);
  EXPECT_EQ(r->flags, kCmdFlagFua);
  EXPECT_EQ(r->handle, 0x0102030405060708ull);
  EXPECT_EQ(r->offset, 1ull << 40);
  EXPECT_EQ(r->length, 4096u);
  bytes[3] ^= 1;
  EXPECT_FALSE(ParseRequestHeader(bytes).ok());
  EXPECT_FALSE(ParseRequestHeader(bytes.substr(0, 27)).ok());
}

TEST(NbdProtocolTest, SimpleReplyEncoding) {
  char out[kSimpleReplySize];
  EncodeSimpleReply(kEio, 42, out);
  EXPECT_EQ(LoadU32(out), kSimpleReplyMagic);
  EXPECT_EQ(LoadU32(out + 4), kEio);
  EXPECT_EQ(LoadU64(out + 8), 42u);
}

RequestHeader Req(uint16_t type, uint64_t offset, uint32_t length, uint16_t flags = 0) {
  RequestHeader r;
  r.type = type;
  r.offset = offset;
  r.length = length;
  r.flags = flags;
  return r;
}

TEST(NbdProtocolTest, CheckRequest) {
  ExportLimits rw{1 << 20, false, 32u << 20};
  ExportLimits ro{1 << 20, true, 32u << 20};
  EXPECT_EQ(CheckRequest(Req(kCmdRead, 0, 4096), rw), 0u);
  EXPECT_EQ(CheckRequest(Req(kCmdWrite, (1 << 20) - 1, 1, kCmdFlagFua), rw), 0u);
  EXPECT_EQ(CheckRequest(Req(kCmdFlush, 0, 0), rw), 0u);
  EXPECT_EQ(CheckRequest(Req(kCmdWriteZeroes, 0, 512, kCmdFlagNoHole | kCmdFlagFua), rw), 0u);
  // FUA is accepted on every command once SEND_FUA is advertised.
  EXPECT_EQ(CheckRequest(Req(kCmdRead, 0, 1, kCmdFlagFua), rw), 0u);
  // Unknown commands and flags, and flags of features we do not advertise.
  EXPECT_EQ(CheckRequest(Req(kCmdCache, 0, 1), rw), kEinval);
  EXPECT_EQ(CheckRequest(Req(kCmdBlockStatus, 0, 1), rw), kEinval);
  EXPECT_EQ(CheckRequest(Req(99, 0, 1), rw), kEinval);
  EXPECT_EQ(CheckRequest(Req(kCmdRead, 0, 1, kCmdFlagDf), rw), kEinval);
  EXPECT_EQ(CheckRequest(Req(kCmdWrite, 0, 1, kCmdFlagNoHole), rw), kEinval);
  EXPECT_EQ(CheckRequest(Req(kCmdWriteZeroes, 0, 1, kCmdFlagFastZero), rw), kEinval);
  EXPECT_EQ(CheckRequest(Req(kCmdRead, 0, 1, 0x8000), rw), kEinval);
  // Past the end: ENOSPC for writes, EINVAL for reads and trims.
  EXPECT_EQ(CheckRequest(Req(kCmdWrite, 1 << 20, 1), rw), kEnospc);
  EXPECT_EQ(CheckRequest(Req(kCmdWriteZeroes, (1 << 20) - 1, 2), rw), kEnospc);
  EXPECT_EQ(CheckRequest(Req(kCmdRead, 1 << 20, 1), rw), kEinval);
  EXPECT_EQ(CheckRequest(Req(kCmdTrim, 0, (1 << 20) + 1), rw), kEinval);
  EXPECT_EQ(CheckRequest(Req(kCmdRead, std::numeric_limits<uint64_t>::max(), 2), rw), kEinval);
  // Over the maximum block size; TRIM is not bounded by it.
  ExportLimits big{1ull << 40, false, 32u << 20};
  EXPECT_EQ(CheckRequest(Req(kCmdRead, 0, (32u << 20) + 1), big), kEinval);
  EXPECT_EQ(CheckRequest(Req(kCmdWrite, 0, (32u << 20) + 1), big), kEinval);
  EXPECT_EQ(CheckRequest(Req(kCmdWriteZeroes, 0, (32u << 20) + 1), big), kEinval);
  EXPECT_EQ(CheckRequest(Req(kCmdTrim, 0, 0xffffffffu), big), 0u);
  // Read-only exports.
  EXPECT_EQ(CheckRequest(Req(kCmdRead, 0, 1), ro), 0u);
  EXPECT_EQ(CheckRequest(Req(kCmdFlush, 0, 0), ro), 0u);
  EXPECT_EQ(CheckRequest(Req(kCmdWrite, 0, 1), ro), kEperm);
  EXPECT_EQ(CheckRequest(Req(kCmdTrim, 0, 1), ro), kEperm);
  EXPECT_EQ(CheckRequest(Req(kCmdWriteZeroes, 0, 1), ro), kEperm);
}

TEST(NbdProtocolTest, ErrorFromStatus) {
  EXPECT_EQ(ErrorFromStatus(absl::OkStatus()), 0u);
  EXPECT_EQ(ErrorFromStatus(absl::OutOfRangeError("")), kEinval);
  EXPECT_EQ(ErrorFromStatus(absl::InvalidArgumentError("")), kEinval);
  EXPECT_EQ(ErrorFromStatus(absl::ResourceExhaustedError("")), kEnospc);
  EXPECT_EQ(ErrorFromStatus(absl::PermissionDeniedError("")), kEperm);
  EXPECT_EQ(ErrorFromStatus(absl::UnimplementedError("")), kEnotsup);
  EXPECT_EQ(ErrorFromStatus(absl::UnavailableError("")), kEio);
  EXPECT_EQ(ErrorFromStatus(absl::DeadlineExceededError("")), kEio);
  EXPECT_EQ(ErrorFromStatus(absl::FailedPreconditionError("")), kEshutdown);
  EXPECT_EQ(ErrorFromStatus(absl::InternalError("")), kEio);
}

TEST(NbdProtocolTest, TransmissionFlags) {
  uint16_t rw = TransmissionFlags(false, true);
  EXPECT_EQ(rw, kFlagHasFlags | kFlagSendFlush | kFlagSendFua | kFlagSendTrim |
                    kFlagSendWriteZeroes | kFlagCanMultiConn);
  uint16_t ro = TransmissionFlags(true, false);
  EXPECT_TRUE(ro & kFlagReadOnly);
  EXPECT_FALSE(ro & kFlagCanMultiConn);
  EXPECT_FALSE(ro & kFlagSendFastZero);
}

// --- The option-haggling state machine ------------------------------------------

class HandshakeTest : public ::testing::Test {
 protected:
  HandshakeTest() {
    device_ = std::make_shared<nbdtest::FileBlockDevice>(dir_.Join("vol"), 1 << 20, false, 1);
    provider_.Add("vol", device_);
  }

  // Splits concatenated option replies.
  static std::vector<RawNbdClient::OptionReply> Replies(const std::string& bytes) {
    std::vector<RawNbdClient::OptionReply> out;
    size_t pos = 0;
    while (pos + 20 <= bytes.size()) {
      EXPECT_EQ(LoadU64(bytes.data() + pos), kOptReplyMagic);
      RawNbdClient::OptionReply r;
      r.option = LoadU32(bytes.data() + pos + 8);
      r.type = LoadU32(bytes.data() + pos + 12);
      uint32_t len = LoadU32(bytes.data() + pos + 16);
      r.data = bytes.substr(pos + 20, len);
      pos += 20 + len;
      out.push_back(r);
    }
    EXPECT_EQ(pos, bytes.size());
    return out;
  }

  Handshake::Outcome Option(Handshake& h, uint32_t option, const std::string& data) {
    return h.OnOption(OptionHeader{option, static_cast<uint32_t>(data.size())}, data);
  }

  syncblock::testing::TempDir dir_;
  std::shared_ptr<nbdtest::FileBlockDevice> device_;
  nbdtest::MapExportProvider provider_;
};

TEST_F(HandshakeTest, GoAnswersInfoThenEntersTransmission) {
  std::vector<std::string> opened;
  Handshake h(&provider_, {}, [&](const std::string& n) { opened.push_back(n); });
  ASSERT_EQ(h.OnClientFlags(kClientFlagFixedNewstyle).next, Handshake::Next::kContinue);
  auto out = Option(
      h, kOptGo, RawNbdClient::InfoData("vol", {kInfoName, kInfoDescription, kInfoBlockSize, 77}));
  ASSERT_EQ(out.next, Handshake::Next::kTransmission);
  auto replies = Replies(out.reply);
  ASSERT_GE(replies.size(), 4u);
  EXPECT_EQ(replies.back().type, kRepAck);
  bool saw_export = false, saw_name = false, saw_desc = false, saw_bs = false;
  for (size_t i = 0; i + 1 < replies.size(); ++i) {
    ASSERT_EQ(replies[i].type, kRepInfo);
    ASSERT_EQ(replies[i].option, kOptGo);
    uint16_t type = LoadU16(replies[i].data.data());
    if (type == kInfoExport) {
      saw_export = true;
      ASSERT_EQ(replies[i].data.size(), 12u);
      EXPECT_EQ(LoadU64(replies[i].data.data() + 2), 1u << 20);
      EXPECT_EQ(LoadU16(replies[i].data.data() + 10), TransmissionFlags(false, true));
    } else if (type == kInfoName) {
      saw_name = true;
      EXPECT_EQ(replies[i].data.substr(2), "vol");
    } else if (type == kInfoDescription) {
      saw_desc = true;
    } else if (type == kInfoBlockSize) {
      saw_bs = true;
      ASSERT_EQ(replies[i].data.size(), 14u);
      EXPECT_EQ(LoadU32(replies[i].data.data() + 2), 1u);
      EXPECT_EQ(LoadU32(replies[i].data.data() + 6), 4096u);
      EXPECT_EQ(LoadU32(replies[i].data.data() + 10), 32u << 20);
    }
  }
  EXPECT_TRUE(saw_export && saw_name && saw_desc && saw_bs);
  EXPECT_EQ(h.export_name(), "vol");
  EXPECT_EQ(h.device(), device_);
  EXPECT_EQ(opened, std::vector<std::string>{"vol"});
}

TEST_F(HandshakeTest, InfoDoesNotEnterTransmissionAndUnknownExportIsErrUnknown) {
  Handshake h(&provider_, {});
  auto info = Option(h, kOptInfo, RawNbdClient::InfoData("vol", {}));
  EXPECT_EQ(info.next, Handshake::Next::kContinue);
  EXPECT_EQ(Replies(info.reply).back().type, kRepAck);
  auto unknown = Option(h, kOptGo, RawNbdClient::InfoData("nope", {}));
  EXPECT_EQ(unknown.next, Handshake::Next::kContinue);
  auto r = Replies(unknown.reply);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].type, kRepErrUnknown);
  auto malformed = Option(h, kOptGo, "xyz");
  EXPECT_EQ(Replies(malformed.reply)[0].type, kRepErrInvalid);
}

TEST_F(HandshakeTest, RefusedClientGetsErrPolicyWithTheReasonAndNoExport) {
  std::vector<std::string> opened;
  HandshakeConfig config;
  config.refusal = "too many connections (limit 2)";
  config.max_refused_options = 3;
  Handshake h(&provider_, config, [&](const std::string& n) { opened.push_back(n); });
  ASSERT_EQ(h.OnClientFlags(kClientFlagFixedNewstyle).next, Handshake::Next::kContinue);
  for (uint32_t option : {kOptGo, kOptInfo, kOptList}) {
    std::string data = option == kOptList ? "" : RawNbdClient::InfoData("vol", {});
    auto out = Option(h, option, data);
    EXPECT_EQ(out.next, Handshake::Next::kContinue);
    auto r = Replies(out.reply);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].option, option);
    EXPECT_EQ(r[0].type, kRepErrPolicy);
    EXPECT_EQ(r[0].data, "too many connections (limit 2)");
  }
  // A client that keeps asking is closed; the export was never opened.
  EXPECT_EQ(Option(h, kOptGo, RawNbdClient::InfoData("vol", {})).next, Handshake::Next::kClose);
  EXPECT_TRUE(opened.empty());
  EXPECT_EQ(h.device(), nullptr);

  Handshake old_style(&provider_, config);
  auto name = Option(old_style, kOptExportName, "vol");
  EXPECT_EQ(name.next, Handshake::Next::kClose);  // EXPORT_NAME cannot carry an error
  EXPECT_EQ(name.reason, "too many connections (limit 2)");
  Handshake aborting(&provider_, config);
  auto abort = Option(aborting, kOptAbort, "");
  EXPECT_EQ(abort.next, Handshake::Next::kClose);
  EXPECT_EQ(Replies(abort.reply)[0].type, kRepAck);
}

TEST_F(HandshakeTest, UnsupportedOptionsGetTheirErrors) {
  Handshake h(&provider_, {});
  EXPECT_EQ(Replies(Option(h, kOptStructuredReply, "").reply)[0].type, kRepErrUnsup);
  EXPECT_EQ(Replies(Option(h, kOptListMetaContext, "abcd").reply)[0].type, kRepErrUnsup);
  EXPECT_EQ(Replies(Option(h, kOptSetMetaContext, "").reply)[0].type, kRepErrUnsup);
  EXPECT_EQ(Replies(Option(h, kOptStartTls, "").reply)[0].type, kRepErrUnsup);
  EXPECT_EQ(Replies(Option(h, kOptStartTls, "x").reply)[0].type, kRepErrInvalid);
  EXPECT_EQ(Replies(Option(h, 0xdeadbeef, "junk").reply)[0].type, kRepErrUnsup);
  EXPECT_EQ(Replies(Option(h, kOptList, "x").reply)[0].type, kRepErrInvalid);
  auto list = Replies(Option(h, kOptList, "").reply);
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].type, kRepServer);
  EXPECT_EQ(list[0].data, EncodeServerReplyData("vol"));
  EXPECT_EQ(list[1].type, kRepAck);
  auto abort = Option(h, kOptAbort, "ignored");
  EXPECT_EQ(abort.next, Handshake::Next::kClose);
  EXPECT_EQ(Replies(abort.reply)[0].type, kRepAck);
}

TEST_F(HandshakeTest, ExportNameRepliesOrCloses) {
  Handshake zeroes(&provider_, {});
  zeroes.OnClientFlags(kClientFlagFixedNewstyle);
  auto out = Option(zeroes, kOptExportName, "vol");
  ASSERT_EQ(out.next, Handshake::Next::kTransmission);
  EXPECT_EQ(out.reply.size(), 10u + kExportNameReplyZeroes);
  EXPECT_EQ(LoadU64(out.reply.data()), 1u << 20);

  Handshake no_zeroes(&provider_, {});
  no_zeroes.OnClientFlags(kClientFlagFixedNewstyle | kClientFlagNoZeroes);
  EXPECT_EQ(Option(no_zeroes, kOptExportName, "vol").reply.size(), 10u);

  Handshake unknown(&provider_, {});
  auto closed = Option(unknown, kOptExportName, "nope");
  EXPECT_EQ(closed.next, Handshake::Next::kClose);
  EXPECT_TRUE(closed.reply.empty());
}

TEST_F(HandshakeTest, OversizedOptions) {
  HandshakeConfig config;
  Handshake h(&provider_, config);
  EXPECT_EQ(h.PolicyFor({kOptGo, config.max_option_length}), Handshake::DataPolicy::kRead);
  EXPECT_EQ(h.PolicyFor({kOptGo, config.max_option_length + 1}),
            Handshake::DataPolicy::kDiscardThenTooBig);
  EXPECT_EQ(h.PolicyFor({kOptGo, 0xffffffffu}), Handshake::DataPolicy::kClose);
  EXPECT_EQ(h.PolicyFor({kOptExportName, config.max_option_length + 1}),
            Handshake::DataPolicy::kClose);
  auto r = Replies(h.OnTooBig({kOptInfo, 100000}).reply);
  EXPECT_EQ(r[0].type, kRepErrTooBig);
  EXPECT_EQ(r[0].option, kOptInfo);
}

TEST_F(HandshakeTest, EndlessHagglingIsCut) {
  HandshakeConfig config;
  config.max_options = 3;
  Handshake h(&provider_, config);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Option(h, 999, "").next, Handshake::Next::kContinue);
  EXPECT_EQ(Option(h, 999, "").next, Handshake::Next::kClose);
}

TEST(NbdStatsTest, CountersAndPrometheusText) {
  NbdExportCounters c("vol\"1");
  c.Read(4096);
  c.Write(512, 40);        // <= 50us bucket
  c.Write(512, 3000);      // <= 5000us bucket
  c.Write(512, 1u << 30);  // +Inf
  c.Flush();
  c.Trim();
  c.Error();
  c.ConnectionOpened();
  NbdExportStats s = c.Snapshot();
  EXPECT_EQ(s.reads, 1u);
  EXPECT_EQ(s.bytes_read, 4096u);
  EXPECT_EQ(s.writes, 3u);
  EXPECT_EQ(s.bytes_written, 1536u);
  EXPECT_EQ(s.flushes, 1u);
  EXPECT_EQ(s.trims, 1u);
  EXPECT_EQ(s.errors, 1u);
  EXPECT_EQ(s.connections, 1u);
  EXPECT_EQ(s.write_latency_buckets[0], 1u);
  EXPECT_EQ(s.write_latency_buckets[6], 2u);  // cumulative at 5 ms
  EXPECT_EQ(s.write_latency_buckets[kNbdLatencyBucketsUs.size() - 1], 2u);
  EXPECT_EQ(s.write_latency_buckets.back(), 3u);
  EXPECT_EQ(s.write_latency_count, 3u);
  std::string text = RenderNbdStatsPrometheus({s});
  EXPECT_NE(text.find("syncblock_nbd_writes_total{export=\"vol\\\"1\"} 3\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("# TYPE syncblock_nbd_write_latency_seconds histogram"), std::string::npos);
  EXPECT_NE(
      text.find("syncblock_nbd_write_latency_seconds_bucket{export=\"vol\\\"1\",le=\"+Inf\"} 3"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("syncblock_nbd_write_latency_seconds_count{export=\"vol\\\"1\"} 3"),
            std::string::npos);
}

// The client's half parses what the server's half encodes, and the reverse.
TEST(NbdProtocolTest, ClientHalfRoundTripsWithTheServerHalf) {
  std::string option = EncodeOption(kOptGo, EncodeInfoRequest("vol", {kInfoBlockSize}));
  auto header = ParseOptionHeader(option);
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(header->option, kOptGo);
  auto info = ParseInfoRequest(option.substr(kOptionHeaderSize));
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->name, "vol");
  EXPECT_EQ(info->info_types, std::vector<uint16_t>{kInfoBlockSize});

  std::string reply = EncodeOptionReply(kOptGo, kRepInfo, EncodeInfoExport(1 << 20, 0x1234));
  auto reply_header = ParseOptionReplyHeader(reply);
  ASSERT_TRUE(reply_header.ok());
  EXPECT_EQ(reply_header->type, kRepInfo);
  auto export_info = ParseInfoReply(reply.substr(kOptionReplyHeaderSize));
  ASSERT_TRUE(export_info.ok());
  EXPECT_EQ(export_info->size, 1u << 20);
  EXPECT_EQ(export_info->transmission_flags, 0x1234);
  auto sizes = ParseInfoReply(EncodeInfoBlockSize({512, 4096, 1 << 20}));
  ASSERT_TRUE(sizes.ok());
  EXPECT_EQ(sizes->block_sizes.maximum, 1u << 20);
  EXPECT_FALSE(ParseInfoReply(EncodeInfoExport(1, 0).substr(0, 5)).ok());
  EXPECT_FALSE(ParseOptionReplyHeader(option).ok());  // a request is not a reply

  RequestHeader request;
  request.type = kCmdWrite;
  request.handle = 7;
  request.offset = 4096;
  request.length = 512;
  auto parsed = ParseRequestHeader(EncodeRequestHeader(request));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->handle, 7u);
  EXPECT_EQ(parsed->length, 512u);

  char simple[kSimpleReplySize];
  EncodeSimpleReply(kEnospc, 9, simple);
  auto simple_reply = ParseSimpleReply(std::string_view(simple, sizeof(simple)));
  ASSERT_TRUE(simple_reply.ok());
  EXPECT_EQ(simple_reply->error, kEnospc);
  EXPECT_EQ(simple_reply->handle, 9u);
}

// An error a client receives maps back to the value the server sent.
TEST(NbdProtocolTest, StatusFromErrorInvertsErrorFromStatus) {
  for (uint32_t error : {kEperm, kEio, kEinval, kEnospc, kEnotsup, kEshutdown}) {
    EXPECT_EQ(ErrorFromStatus(StatusFromError(error, "x")), error) << error;
  }
  EXPECT_TRUE(StatusFromError(0, "x").ok());
  EXPECT_EQ(ErrorFromStatus(StatusFromError(kEoverflow, "x")), kEinval);
}

}  // namespace
}  // namespace syncblock::repl::nbd
