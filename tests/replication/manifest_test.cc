// The replica manifest (replication/store/manifest.h): JSON round trip,
// refusal of a newer format and of invalid ids, and the volume-id rule that
// keeps ids safe as directory and export names.
#include "replication/store/manifest.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace syncblock::repl {
namespace {

using nlohmann::json;

Manifest Sample() {
  Manifest m;
  m.volume_id = "pvc-0b6c.v1_x";
  m.size_bytes = (10ull << 30) + 512;
  m.region_size = 1 << 20;
  m.epoch = 12;
  m.primary_node_id = "node-2";
  m.members = {{"node-1", "a:1", "a:2", "a:3", "z1"},
               {"node-2", "b:1", "b:2", "b:3", "z2"},
               {"node-3", "c:1", "c:2", "c:3", "", /*witness=*/true}};
  m.data_generation = "gen-1";
  m.outdated = {"node-1"};
  m.member_generations = {{"node-1", "gen-1"}, {"node-3", "gen-0"}};
  m.checksum_resync = {"node-3"};
  m.consistent = false;
  m.attributes = {{"syncMode", "async"}, {"maxLagMs", "500"}};
  return m;
}

TEST(ManifestTest, RoundTripsEveryField) {
  Manifest m = Sample();
  auto d = ManifestFromJson(ManifestToJson(m));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->format_version, kManifestFormatVersion);
  EXPECT_EQ(d->volume_id, m.volume_id);
  EXPECT_EQ(d->size_bytes, m.size_bytes);
  EXPECT_EQ(d->region_size, m.region_size);
  EXPECT_EQ(d->epoch, m.epoch);
  EXPECT_EQ(d->primary_node_id, m.primary_node_id);
  EXPECT_EQ(d->members, m.members);
  EXPECT_EQ(d->data_generation, m.data_generation);
  EXPECT_EQ(d->member_generations, m.member_generations);
  EXPECT_EQ(d->checksum_resync, m.checksum_resync);
  EXPECT_EQ(d->consistent, m.consistent);
  EXPECT_EQ(d->attributes, m.attributes);
  EXPECT_EQ(d->outdated, m.outdated);
  EXPECT_TRUE(d->IsWitness("node-3"));
  EXPECT_FALSE(d->IsWitness("node-1"));
}

TEST(ManifestTest, DerivedValues) {
  Manifest m = Sample();
  EXPECT_EQ(m.regions(), 10u * 1024 + 1) << "a partial last region counts";
  m.size_bytes = 0;
  EXPECT_EQ(m.regions(), 0u);
  ASSERT_NE(Sample().FindMember("node-3"), nullptr);
  EXPECT_EQ(Sample().FindMember("node-3")->replication_address, "c:2");
  EXPECT_EQ(Sample().FindMember("node-9"), nullptr);
  Manifest q;
  for (int n = 1; n <= 5; ++n) {
    q.members.resize(n);
    EXPECT_EQ(q.Quorum(), std::vector<int>({1, 2, 2, 3, 3})[n - 1]) << n << " members";
  }
}

TEST(ManifestTest, OptionalKeysDefault) {
  json j = json::parse(ManifestToJson(Sample()));
  for (const char* key : {"member_generations", "checksum_resync", "consistent", "attributes"}) {
    j.erase(key);
  }
  j["members"][0].erase("zone");
  auto d = ManifestFromJson(j.dump());
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_TRUE(d->member_generations.empty());
  EXPECT_TRUE(d->checksum_resync.empty());
  EXPECT_TRUE(d->consistent);
  EXPECT_TRUE(d->attributes.empty());
  EXPECT_EQ(d->members[0].zone, "");
}

TEST(ManifestTest, NewerFormatIsRefusedWithFailedPrecondition) {
  json j = json::parse(ManifestToJson(Sample()));
  j["format_version"] = kManifestFormatVersion + 1;
  auto d = ManifestFromJson(j.dump());
  EXPECT_EQ(d.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(d.status().message().find("newer"), std::string::npos) << d.status();
}

TEST(ManifestTest, UnparsableOrIncompleteIsDataLoss) {
  const std::string good = ManifestToJson(Sample());
  std::vector<std::string> bad = {"", "{", "[]", "null", good.substr(0, good.size() - 3)};
  for (const char* key : {"format_version", "volume_id", "size_bytes", "region_size", "epoch",
                          "primary", "members", "data_generation"}) {
    json j = json::parse(good);
    j.erase(key);
    bad.push_back(j.dump());
  }
  auto with = [&](const char* key, json value) {
    json j = json::parse(good);
    j[key] = std::move(value);
    bad.push_back(j.dump());
  };
  with("region_size", 0);
  with("volume_id", "");
  with("volume_id", "a/b");
  with("volume_id", "..");
  with("volume_id", std::string(129, 'v'));
  with("epoch", "twelve");
  with("members", json::array({json::object({{"zone", "z"}})}));
  with("checksum_resync", 5);
  // Numbers that are not integers of the field's type: get<T>() would wrap,
  // cut or (a float out of range) be undefined behaviour (manifest_fuzz).
  with("epoch", -1);
  with("size_bytes", 1.5);
  with("region_size", 1e300);
  with("format_version", 1e300);
  with("format_version", 4294967297u);
  with("primary_since_unix_ms", -1e300);
  with("last_failover_unix_ms", 18446744073709551615u);
  // A member list nested deeper than any stack (it was dump()ed, which recurses).
  bad.push_back(absl::StrCat(good.substr(0, good.find("\"members\"")), "\"members\": ",
                             std::string(1 << 20, '['), std::string(1 << 20, ']'), "}"));
  for (const std::string& text : bad) {
    EXPECT_EQ(ManifestFromJson(text).status().code(), absl::StatusCode::kDataLoss) << text;
  }
}

TEST(ManifestTest, ValidVolumeIds) {
  for (const std::string& id :
       std::vector<std::string>{"a", "pvc-1", "A.b_c-9", "0", std::string(128, 'x'), "a.."}) {
    EXPECT_TRUE(ValidVolumeId(id)) << id;
  }
  for (const std::string& id :
       std::vector<std::string>{"", ".", "..", ".hidden", "a/b", "/abs", "a b", "a\nb", "ü", "a:b",
                                std::string(129, 'x'), std::string("a\0b", 3)}) {
    EXPECT_FALSE(ValidVolumeId(id)) << id;
  }
}

}  // namespace
}  // namespace syncblock::repl
