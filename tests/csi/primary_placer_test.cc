// PrimaryHome (csi/primary_placer.h): where a dataLocality volume's primary
// belongs, and when it may move there.
#include "csi/primary_placer.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "csi/csi_constants.h"
#include "csi/publications.h"

namespace syncblock::csi {
namespace {

repl::VolumeView Volume() {
  repl::VolumeView v;
  v.id = "v";
  v.primary = "node-2";
  v.serving = true;
  for (const char* n : {"node-2", "node-1", "node-3"}) {
    repl::ReplicaView r;
    r.node = n;
    r.state = "in_sync";
    v.replicas.push_back(r);
  }
  v.attributes[absl::StrCat(kAttrParamPrefix, kParamDataLocality)] = "true";
  return v;
}

void Publish(repl::VolumeView& v, const std::string& node, bool readonly) {
  Publication p{node, false, AccessMode::MULTI_NODE_MULTI_WRITER, readonly};
  v.attributes[PublicationKey(node)] = EncodePublication(p);
}

TEST(PrimaryHomeTest, TheReadWriteConsumerHoldingAReplica) {
  repl::VolumeView v = Volume();
  Publish(v, "node-3", /*readonly=*/true);
  Publish(v, "node-1", /*readonly=*/false);
  EXPECT_EQ(PrimaryHome(v), "node-1");
}

TEST(PrimaryHomeTest, AReaderWhenNoWriterHoldsAReplica) {
  repl::VolumeView v = Volume();
  Publish(v, "node-3", /*readonly=*/true);
  Publish(v, "node-9", /*readonly=*/false);  // a node with no replica
  EXPECT_EQ(PrimaryHome(v), "node-3");
}

TEST(PrimaryHomeTest, NothingToDoOrNotNow) {
  repl::VolumeView v = Volume();
  EXPECT_EQ(PrimaryHome(v), std::nullopt) << "not published";
  Publish(v, "node-2", false);
  EXPECT_EQ(PrimaryHome(v), std::nullopt) << "already there";

  repl::VolumeView w = Volume();
  Publish(w, "node-1", false);
  w.replicas[2].state = "resyncing";
  EXPECT_EQ(PrimaryHome(w), std::nullopt) << "a replica is behind";
  w.replicas[2].state = "in_sync";
  w.serving = false;
  EXPECT_EQ(PrimaryHome(w), std::nullopt) << "no serving primary to move from";
  w.serving = true;
  w.attributes[absl::StrCat(kAttrParamPrefix, kParamDataLocality)] = "false";
  EXPECT_EQ(PrimaryHome(w), std::nullopt) << "no dataLocality";
}

}  // namespace
}  // namespace syncblock::csi
