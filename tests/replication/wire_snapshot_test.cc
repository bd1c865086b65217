// The snapshot frames' payloads (replication/wire/snapshot_record.h and
// wire_format.h): the kSnapshot record, the name-prefixed kSnapshotData
// payload, and the hello's snapshot lists, including what older peers send.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "replication/wire/hello.h"
#include "replication/wire/snapshot_record.h"
#include "replication/wire/wire_format.h"

namespace syncblock::repl {
namespace {

TEST(WireSnapshotTest, RecordRoundTrips) {
  SnapshotRecord r;
  r.name = "snap-1.a_b";
  r.size_bytes = 1ull << 36;
  r.seq = 1763779200123456;
  r.created_unix_ms = 1763779200123;
  r.materialized = true;
  auto d = DecodeSnapshotRecord(EncodeSnapshotRecord(r));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->name, r.name);
  EXPECT_EQ(d->size_bytes, r.size_bytes);
  EXPECT_EQ(d->seq, r.seq);
  EXPECT_EQ(d->created_unix_ms, r.created_unix_ms);
  EXPECT_TRUE(d->materialized);
  EXPECT_FALSE(d->complete) << "a full copy starts incomplete";
  r.materialized = false;
  d = DecodeSnapshotRecord(EncodeSnapshotRecord(r));
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->complete);
}

TEST(WireSnapshotTest, BadRecordsAreInvalid) {
  for (const char* text :
       {"", "{", "{\"name\":\"s\"}", "{\"name\":\"s\",\"size_bytes\":-1,\"seq\":1,\"created_unix_ms\":0}",
        "{\"name\":\"../x\",\"size_bytes\":1,\"seq\":1,\"created_unix_ms\":0}",
        "{\"name\":\"\",\"size_bytes\":1,\"seq\":1,\"created_unix_ms\":0}",
        // A float out of range was undefined behaviour (snapshot_record_fuzz).
        "{\"name\":\"s\",\"size_bytes\":1,\"seq\":1,\"created_unix_ms\":-1e300}",
        "{\"name\":\"s\",\"size_bytes\":1,\"seq\":1.5,\"created_unix_ms\":0}",
        "{\"name\":\"s\",\"size_bytes\":1,\"seq\":1,\"created_unix_ms\":18446744073709551615}"}) {
    EXPECT_EQ(DecodeSnapshotRecord(text).status().code(), absl::StatusCode::kInvalidArgument)
        << text;
  }
}

TEST(WireSnapshotTest, NamesFollowTheVolumeIdRules) {
  EXPECT_TRUE(ValidSnapshotName("snapshot-6f1c2a4e-1111-2222-3333-444455556666"));
  EXPECT_FALSE(ValidSnapshotName(""));
  EXPECT_FALSE(ValidSnapshotName(".hidden"));
  EXPECT_FALSE(ValidSnapshotName("a/b"));
  EXPECT_FALSE(ValidSnapshotName("vol@snap"));
  EXPECT_FALSE(ValidSnapshotName(std::string(129, 'a')));
}

TEST(WireSnapshotTest, DataPayloadCarriesNameAndData) {
  std::string data("\0\1\2payload", 10);
  std::string p = EncodeSnapshotData("s1", data);
  auto d = DecodeSnapshotData(p);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->first, "s1");
  EXPECT_EQ(d->second, data);
  EXPECT_FALSE(DecodeSnapshotData("").ok());
  EXPECT_FALSE(DecodeSnapshotData(std::string("\x05" "ab", 3)).ok()) << "name cut short";
  EXPECT_FALSE(DecodeSnapshotData(std::string("\0abc", 4)).ok()) << "empty name";
}

TEST(WireSnapshotTest, SnapshotFramesDecodeAndDataMustCoverItsLength) {
  for (FrameType t : {FrameType::kSnapshot, FrameType::kSnapshotData, FrameType::kSnapshotDone,
                      FrameType::kSnapshotDelete}) {
    FrameHeader h;
    h.type = t;
    h.length = t == FrameType::kSnapshotData ? 4 : 0;
    std::string payload = t == FrameType::kSnapshotData ? EncodeSnapshotData("s", "abcd") : "s";
    std::string frame = EncodeFrame(h, payload);
    auto d = DecodeHeader(reinterpret_cast<const uint8_t*>(frame.data()));
    ASSERT_TRUE(d.ok()) << FrameTypeName(t) << ": " << d.status();
    EXPECT_EQ(d->type, t);
    EXPECT_NE(std::string(FrameTypeName(t)), "unknown");
  }
  FrameHeader h;
  h.type = FrameType::kSnapshotData;
  h.length = 100;  // more than the payload holds
  std::string frame = EncodeFrame(h, EncodeSnapshotData("s", "abcd"));
  EXPECT_EQ(DecodeHeader(reinterpret_cast<const uint8_t*>(frame.data())).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(WireSnapshotTest, HelloSnapshotListsAreOptional) {
  HelloRequest h;
  h.volume_id = "vol";
  h.epoch = 3;
  h.primary_node_id = "a";
  h.size_bytes = 1 << 20;
  h.region_size = 64 << 10;
  auto d = DecodeHello(EncodeHello(h));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_FALSE(d->snapshots.has_value()) << "an older primary's hello lists none: drop nothing";
  h.snapshots = std::vector<std::string>{};
  d = DecodeHello(EncodeHello(h));
  ASSERT_TRUE(d.ok());
  ASSERT_TRUE(d->snapshots.has_value()) << "an empty list is a list: drop everything";
  h.snapshots = std::vector<std::string>{"s1", "s2"};
  d = DecodeHello(EncodeHello(h));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d->snapshots, (std::vector<std::string>{"s1", "s2"}));

  HelloReply r;
  r.snapshots = {"s2"};
  auto rd = DecodeHelloReply(EncodeHelloReply(r));
  ASSERT_TRUE(rd.ok());
  EXPECT_EQ(rd->snapshots, std::vector<std::string>{"s2"});
  rd = DecodeHelloReply("{\"status\":0,\"epoch\":1}");
  ASSERT_TRUE(rd.ok()) << "an older replica's reply";
  EXPECT_TRUE(rd->snapshots.empty());
}

}  // namespace
}  // namespace syncblock::repl
