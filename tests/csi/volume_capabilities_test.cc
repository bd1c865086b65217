#include "csi/volume_capabilities.h"

#include <gtest/gtest.h>

namespace syncblock::csi {
namespace {

using ::csi::v1::VolumeCapability;

VolumeCapability Block(AccessMode::Mode mode) {
  VolumeCapability c;
  c.mutable_block();
  c.mutable_access_mode()->set_mode(mode);
  return c;
}

VolumeCapability Mount(AccessMode::Mode mode, const std::string& fs = "") {
  VolumeCapability c;
  c.mutable_mount()->set_fs_type(fs);
  c.mutable_access_mode()->set_mode(mode);
  return c;
}

TEST(VolumeCapabilitiesTest, MalformedCapabilitiesAreInvalid) {
  VolumeCapability no_type;
  no_type.mutable_access_mode()->set_mode(AccessMode::SINGLE_NODE_WRITER);
  EXPECT_EQ(CheckWellFormed(no_type).code(), absl::StatusCode::kInvalidArgument);
  VolumeCapability no_mode;
  no_mode.mutable_block();
  EXPECT_EQ(CheckWellFormed(no_mode).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckWellFormed(Block(AccessMode::UNKNOWN)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckWellFormed(Block(static_cast<AccessMode::Mode>(99))).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(VolumeCapabilitiesTest, BlockSupportsEveryMode) {
  for (int m = AccessMode::SINGLE_NODE_WRITER; m <= AccessMode::SINGLE_NODE_MULTI_WRITER; ++m) {
    auto cap = Block(static_cast<AccessMode::Mode>(m));
    EXPECT_TRUE(CheckWellFormed(cap).ok());
    EXPECT_TRUE(CheckSupported(cap).ok()) << m;
  }
}

TEST(VolumeCapabilitiesTest, MountRefusesMultiNodeWriters) {
  EXPECT_TRUE(CheckSupported(Mount(AccessMode::SINGLE_NODE_WRITER, "ext4")).ok());
  EXPECT_TRUE(CheckSupported(Mount(AccessMode::MULTI_NODE_READER_ONLY)).ok());
  EXPECT_EQ(CheckSupported(Mount(AccessMode::MULTI_NODE_MULTI_WRITER)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckSupported(Mount(AccessMode::MULTI_NODE_SINGLE_WRITER)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckSupported(Mount(AccessMode::SINGLE_NODE_WRITER, "ntfs")).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(VolumeCapabilitiesTest, ListChecksAndSummary) {
  google::protobuf::RepeatedPtrField<VolumeCapability> caps;
  EXPECT_EQ(ValidateCapabilities(caps).code(), absl::StatusCode::kInvalidArgument);
  *caps.Add() = Block(AccessMode::MULTI_NODE_MULTI_WRITER);
  *caps.Add() = Mount(AccessMode::SINGLE_NODE_WRITER, "xfs");
  EXPECT_TRUE(ValidateCapabilities(caps).ok());
  EXPECT_EQ(MountFsType(caps), "xfs");
  EXPECT_EQ(SummarizeCapabilities(caps),
            "block/MULTI_NODE_MULTI_WRITER,mount:xfs/SINGLE_NODE_WRITER");
  *caps.Add() = Mount(AccessMode::MULTI_NODE_MULTI_WRITER);
  EXPECT_EQ(ValidateCapabilities(caps).code(), absl::StatusCode::kInvalidArgument);
}

TEST(VolumeCapabilitiesTest, ModeClasses) {
  EXPECT_TRUE(IsSingleNodeMode(AccessMode::SINGLE_NODE_MULTI_WRITER));
  EXPECT_FALSE(IsSingleNodeMode(AccessMode::MULTI_NODE_READER_ONLY));
  EXPECT_TRUE(IsReadOnlyMode(AccessMode::MULTI_NODE_READER_ONLY));
  EXPECT_FALSE(IsReadOnlyMode(AccessMode::SINGLE_NODE_WRITER));
}

}  // namespace
}  // namespace syncblock::csi
