// The hello exchange's JSON payloads (replication/wire/hello.h): round trips,
// and the refusal of malformed or incomplete hellos from the network.
#include "replication/wire/hello.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace syncblock::repl {
namespace {

using nlohmann::json;

HelloRequest SampleHello() {
  HelloRequest h;
  h.volume_id = "pvc-1234_abc.d";
  h.epoch = 7;
  h.primary_node_id = "node-1";
  h.members = {{"node-1", "10.0.0.1:7000", "10.0.0.1:7001", "10.0.0.1:7002", "zone-a"},
               {"node-2", "10.0.0.2:7000", "10.0.0.2:7001", "10.0.0.2:7002", "zone-b"}};
  h.size_bytes = 1ull << 34;
  h.region_size = 1 << 20;
  h.attributes = {{"syncMode", "sync"}, {"fsType", "xfs"}};
  h.create_if_missing = false;
  return h;
}

TEST(WireHelloTest, HelloRoundTrips) {
  HelloRequest h = SampleHello();
  auto d = DecodeHello(EncodeHello(h));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->volume_id, h.volume_id);
  EXPECT_EQ(d->epoch, h.epoch);
  EXPECT_EQ(d->primary_node_id, h.primary_node_id);
  EXPECT_EQ(d->members, h.members);
  EXPECT_EQ(d->size_bytes, h.size_bytes);
  EXPECT_EQ(d->region_size, h.region_size);
  EXPECT_EQ(d->attributes, h.attributes);
  EXPECT_FALSE(d->create_if_missing);
  h.create_if_missing = true;
  d = DecodeHello(EncodeHello(h));
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->create_if_missing);
}

TEST(WireHelloTest, DataKeyRoundTripsAndIsCheckedWithoutBeingQuoted) {
  HelloRequest h = SampleHello();
  EXPECT_FALSE(json::parse(EncodeHello(h)).contains("data_key")) << "absent when empty";
  h.data_key = std::string(kHelloDataKeySize, '\x01');
  h.data_key[0] = '\xfe';
  auto d = DecodeHello(EncodeHello(h));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->data_key, h.data_key);

  for (const std::string& wrong :
       {std::string(2 * kHelloDataKeySize - 2, 'a'), std::string(2 * kHelloDataKeySize, 'g'),
        std::string(2 * kHelloDataKeySize + 2, '0')}) {
    json j = json::parse(EncodeHello(SampleHello()));
    j["data_key"] = wrong;
    auto bad = DecodeHello(j.dump());
    ASSERT_FALSE(bad.ok()) << wrong;
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(std::string(bad.status().message()).find(wrong), std::string::npos)
        << "the message quotes the key: " << bad.status();
  }
}

TEST(WireHelloTest, HelloUsesTheDocumentedKeys) {
  json j = json::parse(EncodeHello(SampleHello()));
  for (const char* key : {"volume_id", "epoch", "primary", "members", "size_bytes", "region_size",
                          "attributes", "create_if_missing"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
}

TEST(WireHelloTest, HelloWithoutOptionalKeysDecodes) {
  json j = json::parse(EncodeHello(SampleHello()));
  j.erase("attributes");
  j.erase("create_if_missing");
  auto d = DecodeHello(j.dump());
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_TRUE(d->attributes.empty());
  // An old primary that does not say it wants a replica created gets none.
  EXPECT_FALSE(d->create_if_missing);
}

TEST(WireHelloTest, RefusesMalformedHellos) {
  const std::string good = EncodeHello(SampleHello());
  std::vector<std::string> bad = {
      "",
      "not json",
      "{",
      "[]",
      "42",
      "null",
      good.substr(0, good.size() / 2),
      std::string("\x00\xff\x01", 3),
  };
  for (const char* key :
       {"volume_id", "epoch", "primary", "members", "size_bytes", "region_size"}) {
    json j = json::parse(good);
    j.erase(key);
    bad.push_back(j.dump());
  }
  auto with = [&](const char* key, json value) {
    json j = json::parse(good);
    j[key] = std::move(value);
    bad.push_back(j.dump());
  };
  with("epoch", "7");
  with("epoch", 0);
  with("size_bytes", "big");
  with("region_size", 0);
  with("volume_id", "");
  with("volume_id", "../etc");
  with("volume_id", ".hidden");
  with("volume_id", std::string(129, 'a'));
  with("volume_id", 12);
  with("primary", nullptr);
  with("members", "node-1");
  with("members", json::array({json::object({{"control", "x"}})}));
  with("members", json::array({42}));
  with("attributes", json::array({1, 2}));
  with("attributes", json::object({{"k", 1}}));
  for (const std::string& text : bad) {
    auto d = DecodeHello(text);
    EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
}

TEST(WireHelloTest, RefusesNegativeAndFractionalNumbers) {
  // nlohmann's get<uint64_t>() converts -1 to 2^64-1 without complaint: a
  // hello of "epoch": -1 would otherwise install an epoch no later primary
  // could ever beat, and a negative size would resize the replica to ~16 EiB.
  const std::string good = EncodeHello(SampleHello());
  for (const char* key : {"epoch", "size_bytes", "region_size"}) {
    for (json value : {json(-1), json(-4096), json(1.5)}) {
      json j = json::parse(good);
      j[key] = value;
      EXPECT_EQ(DecodeHello(j.dump()).status().code(), absl::StatusCode::kInvalidArgument)
          << j.dump();
    }
  }
}

TEST(WireHelloTest, ReplyRoundTrips) {
  HelloReply r;
  r.status = WireStatus::kConflict;
  r.message = "epoch 7 belongs to node-3";
  r.epoch = 7;
  r.data_generation = "gen-abc";
  r.applied_seq = 1ull << 50;
  r.dirty_hint = {0, 5, 1ull << 40};
  auto d = DecodeHelloReply(EncodeHelloReply(r));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->status, r.status);
  EXPECT_EQ(d->message, r.message);
  EXPECT_EQ(d->epoch, r.epoch);
  EXPECT_EQ(d->data_generation, r.data_generation);
  EXPECT_EQ(d->applied_seq, r.applied_seq);
  EXPECT_EQ(d->dirty_hint, r.dirty_hint);
  EXPECT_EQ(json::parse(EncodeHelloReply(r))["status"], 6);
}

TEST(WireHelloTest, RefusesMalformedReplies) {
  for (const std::string& text : std::vector<std::string>{
           "", "{}", "[1]", "{\"status\": 0}", "{\"epoch\": 1}",
           "{\"status\": \"ok\", \"epoch\": 1}",
           "{\"status\": 0, \"epoch\": 1, \"dirty_hint\": \"x\"}",
           // Numbers that are not integers of the field's type: get<T>() would
           // wrap, cut, or (a float out of range) be undefined (hello_fuzz).
           "{\"status\": 1e300, \"epoch\": 1}", "{\"status\": 4294967296, \"epoch\": 1}",
           "{\"status\": 0, \"epoch\": -1}", "{\"status\": 0, \"epoch\": 1.5}",
           "{\"status\": 0, \"epoch\": 1, \"applied_seq\": -3}",
           "{\"status\": 0, \"epoch\": 1, \"dirty_hint\": [1, -1]}",
           "{\"status\": 0, \"epoch\": 1, \"dirty_hint\": [1e300]}"}) {
    EXPECT_EQ(DecodeHelloReply(text).status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
  auto minimal = DecodeHelloReply("{\"status\": 1, \"epoch\": 9}");
  ASSERT_TRUE(minimal.ok()) << minimal.status();
  EXPECT_EQ(minimal->status, WireStatus::kStaleEpoch);
  EXPECT_EQ(minimal->epoch, 9u);
  EXPECT_TRUE(minimal->dirty_hint.empty());
}

// A peer's hello whose member list is nested deeper than any stack: the
// decoder serialized the list again to parse it apart, and serializing
// recurses, so the node crashed (stack overflow; wire_frame_fuzz and
// hello_fuzz reproduce it).
TEST(WireHelloTest, DeeplyNestedMembersAreRefusedNotACrash) {
  json j = json::parse(EncodeHello(SampleHello()));
  j.erase("members");
  std::string text = j.dump();
  text.pop_back();
  text += ",\"members\":" + std::string(1 << 20, '[') + std::string(1 << 20, ']') + "}";
  EXPECT_EQ(DecodeHello(text).status().code(), absl::StatusCode::kInvalidArgument);
  const std::string deep = std::string(1 << 20, '[') + std::string(1 << 20, ']');
  EXPECT_EQ(MembersFromJson(deep).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(WireHelloTest, MembersRoundTripThroughJson) {
  std::vector<MemberInfo> members = SampleHello().members;
  auto d = MembersFromJson(MembersToJson(members));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(*d, members);
  auto empty = MembersFromJson(MembersToJson({}));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  EXPECT_FALSE(MembersFromJson("[{}]").ok());
  EXPECT_FALSE(MembersFromJson("oops").ok());
}

}  // namespace
}  // namespace syncblock::repl
