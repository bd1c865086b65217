// The replication frame format (replication/doc/wire_format.md): the byte
// layout of the header, the round trip, and every reason DecodeHeader and
// VerifyPayload must refuse a frame.
#include "replication/wire/wire_format.h"

#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <string>

#include "replication/util/crc32c.h"

namespace syncblock::repl {
namespace {

FrameHeader SampleHeader() {
  FrameHeader h;
  h.type = FrameType::kWrite;
  h.flags = kFlagFua;
  h.payload_len = 5;
  h.epoch = 0x0102030405060708ull;
  h.seq = 42;
  h.offset = 1ull << 40;
  h.length = 5;
  h.payload_crc = PayloadCrc("hello");
  h.status = 0;
  return h;
}

template <typename T>
T At(const uint8_t* p, size_t off) {
  T v;
  std::memcpy(&v, p + off, sizeof(T));
  return v;
}

template <typename T>
void PutAt(uint8_t* p, size_t off, T v) {
  std::memcpy(p + off, &v, sizeof(T));
}

// Re-seals the header CRC after a test edits a field, so the decoder's other
// checks are reached.
void Reseal(uint8_t* p) { PutAt<uint32_t>(p, 52, Crc32c(p, 52)); }

TEST(WireFormatTest, LayoutMatchesTheDocument) {
  uint8_t b[kFrameHeaderSize];
  FrameHeader h = SampleHeader();
  h.status = 6;
  EncodeHeader(h, b);
  // The magic reads "PRBS" in memory order (little-endian 0x53425250).
  EXPECT_EQ(std::string(reinterpret_cast<char*>(b), 4), "PRBS");
  EXPECT_EQ(At<uint32_t>(b, 0), 0x53425250u);
  EXPECT_EQ(At<uint16_t>(b, 4), 1);
  EXPECT_EQ(At<uint16_t>(b, 6), 3);
  EXPECT_EQ(At<uint32_t>(b, 8), kFlagFua);
  EXPECT_EQ(At<uint32_t>(b, 12), 5u);
  EXPECT_EQ(At<uint64_t>(b, 16), 0x0102030405060708ull);
  EXPECT_EQ(b[16], 0x08) << "little-endian epoch";
  EXPECT_EQ(At<uint64_t>(b, 24), 42u);
  EXPECT_EQ(At<uint64_t>(b, 32), 1ull << 40);
  EXPECT_EQ(At<uint32_t>(b, 40), 5u);
  EXPECT_EQ(At<uint32_t>(b, 44), PayloadCrc("hello"));
  EXPECT_EQ(At<uint32_t>(b, 48), 6u);
  EXPECT_EQ(At<uint32_t>(b, 52), Crc32c(b, 52));
}

TEST(WireFormatTest, RoundTripsEveryField) {
  uint8_t b[kFrameHeaderSize];
  FrameHeader h = SampleHeader();
  EncodeHeader(h, b);
  auto d = DecodeHeader(b);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->type, h.type);
  EXPECT_EQ(d->flags, h.flags);
  EXPECT_EQ(d->payload_len, h.payload_len);
  EXPECT_EQ(d->epoch, h.epoch);
  EXPECT_EQ(d->seq, h.seq);
  EXPECT_EQ(d->offset, h.offset);
  EXPECT_EQ(d->length, h.length);
  EXPECT_EQ(d->payload_crc, h.payload_crc);
  EXPECT_EQ(d->status, h.status);
  EXPECT_TRUE(VerifyPayload(*d, "hello").ok());
}

TEST(WireFormatTest, EveryKnownTypeDecodesAndHasAName) {
  for (uint16_t t = 1; t <= 19; ++t) {
    FrameHeader h;
    h.type = static_cast<FrameType>(t);
    // Snapshot data carries at least a name prefix.
    if (h.type == FrameType::kSnapshotData) h.payload_len = 2;
    uint8_t b[kFrameHeaderSize];
    EncodeHeader(h, b);
    auto d = DecodeHeader(b);
    ASSERT_TRUE(d.ok()) << "type " << t << ": " << d.status();
    EXPECT_EQ(static_cast<uint16_t>(d->type), t);
    EXPECT_STRNE(FrameTypeName(d->type), "unknown") << t;
  }
}

TEST(WireFormatTest, RefusesBadMagic) {
  uint8_t b[kFrameHeaderSize];
  EncodeHeader(SampleHeader(), b);
  b[0] ^= 1;
  Reseal(b);
  auto d = DecodeHeader(b);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(WireFormatTest, LagReportRoundTripsAndRefusesBadPayloads) {
  LagReport in{1234, 5ull << 30, true};
  std::string payload = EncodeLagReport(in);
  ASSERT_EQ(payload.size(), kLagReportSize);
  auto out = DecodeLagReport(payload);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->ms, 1234u);
  EXPECT_EQ(out->bytes, 5ull << 30);
  EXPECT_TRUE(out->broken);
  EXPECT_EQ(static_cast<uint8_t>(payload[0]), 1234 & 0xff) << "little-endian";

  EXPECT_EQ(DecodeLagReport(payload.substr(1)).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeLagReport(payload + "x").status().code(), absl::StatusCode::kInvalidArgument);
  payload[16] = 2;
  auto bad = DecodeLagReport(payload);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("broken flag"), std::string::npos);
}

TEST(WireFormatTest, RefusesOtherVersions) {
  for (uint16_t v : {0, 2, 0xffff}) {
    uint8_t b[kFrameHeaderSize];
    EncodeHeader(SampleHeader(), b);
    PutAt<uint16_t>(b, 4, v);
    Reseal(b);
    auto d = DecodeHeader(b);
    EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument) << v;
    EXPECT_NE(d.status().message().find("version"), std::string::npos);
  }
}

TEST(WireFormatTest, RefusesUnknownTypes) {
  for (uint16_t t : {0, 20, 0xffff}) {
    uint8_t b[kFrameHeaderSize];
    EncodeHeader(SampleHeader(), b);
    PutAt<uint16_t>(b, 6, t);
    Reseal(b);
    EXPECT_EQ(DecodeHeader(b).status().code(), absl::StatusCode::kInvalidArgument) << t;
  }
}

TEST(WireFormatTest, AnySingleBitFlipFailsTheHeaderChecksum) {
  uint8_t good[kFrameHeaderSize];
  EncodeHeader(SampleHeader(), good);
  // Bytes 4..55: a flip in the magic is caught as bad magic instead.
  for (size_t byte = 4; byte < kFrameHeaderSize; ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      uint8_t b[kFrameHeaderSize];
      std::memcpy(b, good, sizeof(b));
      b[byte] ^= static_cast<uint8_t>(1u << bit);
      auto d = DecodeHeader(b);
      ASSERT_FALSE(d.ok()) << "byte " << byte << " bit " << bit;
    }
  }
  // A flip of the checksum field or of any covered field past the version
  // (which is checked first) is specifically a checksum failure.
  uint8_t b[kFrameHeaderSize];
  std::memcpy(b, good, sizeof(b));
  b[20] ^= 0x10;
  EXPECT_EQ(DecodeHeader(b).status().code(), absl::StatusCode::kDataLoss);
}

TEST(WireFormatTest, RefusesPayloadsOverTheLimit) {
  FrameHeader h;
  h.type = FrameType::kManifest;
  h.payload_len = kMaxPayload;
  uint8_t b[kFrameHeaderSize];
  EncodeHeader(h, b);
  EXPECT_TRUE(DecodeHeader(b).ok());
  h.payload_len = kMaxPayload + 1;
  EncodeHeader(h, b);
  EXPECT_EQ(DecodeHeader(b).status().code(), absl::StatusCode::kInvalidArgument);
  h.payload_len = 0xffffffffu;
  EncodeHeader(h, b);
  EXPECT_EQ(DecodeHeader(b).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(WireFormatTest, RefusesWritesWhoseLengthDiffersFromThePayload) {
  for (FrameType t : {FrameType::kWrite, FrameType::kResyncData}) {
    FrameHeader h;
    h.type = t;
    h.length = 4096;
    h.payload_len = 4095;
    uint8_t b[kFrameHeaderSize];
    EncodeHeader(h, b);
    EXPECT_EQ(DecodeHeader(b).status().code(), absl::StatusCode::kInvalidArgument)
        << FrameTypeName(t);
  }
  // Trim and write-zeroes carry a length and no payload.
  FrameHeader h;
  h.type = FrameType::kTrim;
  h.length = 1 << 20;
  uint8_t b[kFrameHeaderSize];
  EncodeHeader(h, b);
  EXPECT_TRUE(DecodeHeader(b).ok());
}

TEST(WireFormatTest, RefusesRangesThatWrap) {
  FrameHeader h;
  h.type = FrameType::kTrim;
  h.offset = UINT64_MAX - 10;
  h.length = 11;
  uint8_t b[kFrameHeaderSize];
  EncodeHeader(h, b);
  EXPECT_EQ(DecodeHeader(b).status().code(), absl::StatusCode::kInvalidArgument);
  h.length = 10;  // ends exactly at 2^64 - 1: representable
  EncodeHeader(h, b);
  EXPECT_TRUE(DecodeHeader(b).ok());
}

TEST(WireFormatTest, VerifyPayloadCatchesCorruptionAndWrongLength) {
  std::string frame = EncodeFrame(SampleHeader(), "hello");
  auto d = DecodeHeader(reinterpret_cast<const uint8_t*>(frame.data()));
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(VerifyPayload(*d, "hello").ok());
  EXPECT_EQ(VerifyPayload(*d, "hellp").code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(VerifyPayload(*d, "hell").code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(VerifyPayload(*d, "hello!").code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(VerifyPayload(*d, "hellp").message().find("seq 42"), std::string::npos);
}

TEST(WireFormatTest, EncodeFrameSetsLengthAndChecksumFromThePayload) {
  FrameHeader h;
  h.type = FrameType::kHello;
  h.payload_len = 999;   // overridden
  h.payload_crc = 1234;  // overridden
  std::string payload = "{\"volume_id\":\"v\"}";
  std::string frame = EncodeFrame(h, payload);
  ASSERT_EQ(frame.size(), kFrameHeaderSize + payload.size());
  EXPECT_EQ(frame.substr(kFrameHeaderSize), payload);
  auto d = DecodeHeader(reinterpret_cast<const uint8_t*>(frame.data()));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->payload_len, payload.size());
  EXPECT_TRUE(VerifyPayload(*d, payload).ok());
  // An empty payload is a valid frame too.
  std::string empty = EncodeFrame(FrameHeader{}, "");
  ASSERT_EQ(empty.size(), kFrameHeaderSize);
  auto e = DecodeHeader(reinterpret_cast<const uint8_t*>(empty.data()));
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(VerifyPayload(*e, "").ok());
}

TEST(WireFormatTest, WitnessRecordRoundTripsAndRefusesEmptyOrUnterminatedIds) {
  for (const std::set<std::string>& ids : {std::set<std::string>{}, std::set<std::string>{"node-2"},
                                           std::set<std::string>{"node-2", "node-4"}}) {
    auto back = DecodeOutdated(EncodeOutdated(ids));
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, ids);
  }
  EXPECT_FALSE(DecodeOutdated("node-2").ok());
  EXPECT_FALSE(DecodeOutdated("\n").ok());
  EXPECT_FALSE(DecodeOutdated("node-2\n\nnode-3\n").ok());
}

}  // namespace
}  // namespace syncblock::repl
