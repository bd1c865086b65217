#include "csi/publications.h"

#include <gtest/gtest.h>

#include "csi/csi_constants.h"

namespace syncblock::csi {
namespace {

Publication Pub(const std::string& node, bool block, AccessMode::Mode mode, bool ro = false) {
  Publication p;
  p.node_id = node;
  p.block = block;
  p.mode = mode;
  p.readonly = ro;
  return p;
}

TEST(PublicationsTest, RecordsRoundTripThroughAttributes) {
  Publication a = Pub("node-a", true, AccessMode::MULTI_NODE_MULTI_WRITER);
  Publication b = Pub("node-b.example", false, AccessMode::SINGLE_NODE_READER_ONLY, true);
  std::map<std::string, std::string> attrs = {
      {PublicationKey(a.node_id), EncodePublication(a)},
      {PublicationKey(b.node_id), EncodePublication(b)},
      {"csi.name", "x"},
      {"csi.pub.broken", "nonsense"},
  };
  EXPECT_EQ(attrs[PublicationKey("node-a")], "rw,block,MULTI_NODE_MULTI_WRITER");
  auto pubs = PublicationsFromAttributes(attrs);
  ASSERT_EQ(pubs.size(), 2u);
  EXPECT_EQ(pubs[0], a);
  EXPECT_EQ(pubs[1], b);
  EXPECT_FALSE(DecodePublication("n", "rw,block").ok());
  EXPECT_FALSE(DecodePublication("n", "rw,disk,SINGLE_NODE_WRITER").ok());
}

TEST(CheckPublishTest, FirstPublicationIsNew) {
  auto d = CheckPublish({}, Pub("a", false, AccessMode::SINGLE_NODE_WRITER), "v");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, PublishDecision::kNew);
}

TEST(CheckPublishTest, SamePublicationAgainIsIdempotent) {
  auto p = Pub("a", false, AccessMode::SINGLE_NODE_WRITER);
  auto d = CheckPublish({p}, p, "v");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, PublishDecision::kAlreadyPublished);
}

TEST(CheckPublishTest, SameNodeWithOtherCapabilityOrReadonlyIsAlreadyExists) {
  auto p = Pub("a", false, AccessMode::SINGLE_NODE_WRITER);
  EXPECT_EQ(
      CheckPublish({p}, Pub("a", false, AccessMode::SINGLE_NODE_WRITER, true), "v").status().code(),
      absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(CheckPublish({p}, Pub("a", true, AccessMode::SINGLE_NODE_WRITER), "v").status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(
      CheckPublish({p}, Pub("a", false, AccessMode::SINGLE_NODE_READER_ONLY), "v").status().code(),
      absl::StatusCode::kAlreadyExists);
}

TEST(CheckPublishTest, SingleNodeModesRefuseASecondNode) {
  for (auto mode : {AccessMode::SINGLE_NODE_WRITER, AccessMode::SINGLE_NODE_READER_ONLY,
                    AccessMode::SINGLE_NODE_SINGLE_WRITER, AccessMode::SINGLE_NODE_MULTI_WRITER}) {
    auto existing = Pub("a", true, mode);
    auto d = CheckPublish({existing}, Pub("b", true, mode), "vol-9");
    EXPECT_EQ(d.status().code(), absl::StatusCode::kFailedPrecondition) << ModeName(mode);
    EXPECT_NE(d.status().message().find("vol-9"), std::string::npos);
  }
  // A multi-node request cannot join a single-node publication either.
  EXPECT_EQ(CheckPublish({Pub("a", true, AccessMode::SINGLE_NODE_WRITER)},
                         Pub("b", true, AccessMode::MULTI_NODE_MULTI_WRITER), "v")
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(CheckPublishTest, MultiWriterBlockAllowsManyWriters) {
  auto a = Pub("a", true, AccessMode::MULTI_NODE_MULTI_WRITER);
  auto b = Pub("b", true, AccessMode::MULTI_NODE_MULTI_WRITER);
  auto c = Pub("c", true, AccessMode::MULTI_NODE_MULTI_WRITER);
  auto d = CheckPublish({a, b}, c, "v");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(*d, PublishDecision::kNew);
}

TEST(CheckPublishTest, MultiNodeSingleWriterAllowsOneWriter) {
  auto writer = Pub("a", true, AccessMode::MULTI_NODE_SINGLE_WRITER);
  EXPECT_TRUE(
      CheckPublish({writer}, Pub("b", true, AccessMode::MULTI_NODE_SINGLE_WRITER, true), "v").ok());
  EXPECT_EQ(CheckPublish({writer}, Pub("b", true, AccessMode::MULTI_NODE_SINGLE_WRITER), "v")
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(CheckPublishTest, ReadersShareFreely) {
  auto a = Pub("a", false, AccessMode::MULTI_NODE_READER_ONLY, true);
  EXPECT_TRUE(
      CheckPublish({a}, Pub("b", false, AccessMode::MULTI_NODE_READER_ONLY, true), "v").ok());
}

}  // namespace
}  // namespace syncblock::csi
