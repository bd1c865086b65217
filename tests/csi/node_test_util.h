// Helpers for node tests that attach real volumes (tests/csi/node_*_test.cc
// and the CSI end-to-end tests in tests/integration): volume capabilities, a
// node service on the fuse attach path and staging from an NBD URI, sizes as
// the kernel and `df` report them, and whether this process may grow a
// mounted ext4.
//
// Thread-safety: free functions with no shared state.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>

#include "csi/csi_constants.h"
#include "csi/node/node_service.h"
#include "csi/proto/csi.grpc.pb.h"
#include "tests/support/test_util.h"

namespace syncblock::csi {

inline ::csi::v1::VolumeCapability MountCap(const std::string& fs) {
  ::csi::v1::VolumeCapability c;
  c.mutable_mount()->set_fs_type(fs);
  c.mutable_access_mode()->set_mode(::csi::v1::VolumeCapability::AccessMode::SINGLE_NODE_WRITER);
  return c;
}

inline ::csi::v1::VolumeCapability BlockCap(
    ::csi::v1::VolumeCapability::AccessMode::Mode mode =
        ::csi::v1::VolumeCapability::AccessMode::SINGLE_NODE_WRITER) {
  ::csi::v1::VolumeCapability c;
  c.mutable_block();
  c.mutable_access_mode()->set_mode(mode);
  return c;
}

// A node service on the fuse attach path keeping its records in
// `state_dir`; nullptr, with a test failure, when it cannot be made.
inline std::unique_ptr<::csi::v1::Node::Service> NewFuseNodeService(
    const std::string& node_id, const std::string& state_dir,
    std::chrono::milliseconds health_interval = std::chrono::milliseconds(0)) {
  NodeServiceOptions o;
  o.node_id = node_id;
  o.state_dir = state_dir;
  o.attach_mode = "fuse";
  o.syncblock_binary = testing::SyncblockBinary();
  o.health_interval = health_interval;
  auto s = MakeNodeService(o);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? std::move(*s) : nullptr;
}

// NodeStageVolume of `volume_id` at `staging`, attached from `nbd_uri` (the
// publish context ControllerPublishVolume would give).
inline grpc::Status StageFromNbd(::csi::v1::Node::Service* s, const std::string& volume_id,
                                 const std::string& staging,
                                 const ::csi::v1::VolumeCapability& cap,
                                 const std::string& nbd_uri) {
  ::csi::v1::NodeStageVolumeRequest req;
  req.set_volume_id(volume_id);
  req.set_staging_target_path(staging);
  *req.mutable_volume_capability() = cap;
  (*req.mutable_publish_context())[kPublishNbdUri] = nbd_uri;
  ::csi::v1::NodeStageVolumeResponse resp;
  return s->NodeStageVolume(nullptr, &req, &resp);
}

// The size of a block device (BLKGETSIZE64), 0 when it cannot be read.
inline uint64_t BlockDeviceBytes(const std::string& device) {
  int fd = open(device.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  uint64_t size = 0;
  if (ioctl(fd, BLKGETSIZE64, &size) != 0) size = 0;
  close(fd);
  return size;
}

// What `df` says of the filesystem at `path`, so a test checks what a user
// sees; 0 when df fails.
inline uint64_t DfBytes(const std::string& path) {
  auto r = testing::RunCommand("df --output=size -B1 " + path + " | tail -n 1");
  return r.exit_code == 0 ? std::strtoull(r.output.c_str(), nullptr, 10) : 0;
}

// ext4 grows online through an ioctl that needs CAP_SYS_RESOURCE (a node
// plugin runs privileged; some test sandboxes drop it).
inline bool HaveCapSysResource() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("CapEff:", 0) == 0) {
      return (std::stoull(line.substr(7), nullptr, 16) >> 24) & 1;  // CAP_SYS_RESOURCE
    }
  }
  return false;
}

}  // namespace syncblock::csi
