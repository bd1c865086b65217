// The primary engine with faults injected into its replicas' disks through
// the Env seam (tests/support/fault_injection_env.h), three real replicas over
// loopback: a secondary whose fsync fails, the primary's fsync failing, the
// primary's disk full, and a crash of every node that drops what was never
// synced. Nothing acknowledged is lost, errors are precise, replicas converge.
#include <gtest/gtest.h>

#include "tests/replication/engine_cluster.h"

namespace syncblock::repl {
namespace {

using syncblock::repl::testing::EngineCluster;
using syncblock::testing::WaitFor;

constexpr uint64_t kSize = 4 << 20;

PeerView PeerOf(EngineCluster& c, const std::string& node) {
  for (const auto& p : c.engine()->View().peers) {
    if (p.node_id == node) return p;
  }
  return {};
}

absl::Status Flush(EngineCluster& c) { return c.Io(IoOp::kFlush, 0, ""); }

TEST(EngineFaultInjectionTest, SecondaryFsyncFailureFailsThatReplicaNotTheFlush) {
  EngineCluster c(kSize);
  c.node(1).env.SetSyncError(absl::InternalError("fdatasync: Input/output error"));
  ASSERT_TRUE(c.Write(0, std::string(65536, 'a')).ok());
  absl::Status s = Flush(c);
  EXPECT_TRUE(s.ok()) << "durable on the primary and node-2, a majority: " << s;
  ASSERT_TRUE(WaitFor([&] { return PeerOf(c, "node-1").state == PeerState::kFailed; }));
  EXPECT_NE(PeerOf(c, "node-1").message.find("Input/output error"), std::string::npos)
      << PeerOf(c, "node-1").message;
  // While it fails, writes and flushes go on with the other two.
  ASSERT_TRUE(c.Write(65536, std::string(65536, 'b')).ok());
  ASSERT_TRUE(Flush(c).ok());
  c.node(1).env.SetSyncError(absl::OkStatus());
  ASSERT_TRUE(c.WaitInSync());
  EXPECT_EQ(c.ReadLive(1, 0, 65536), std::string(65536, 'a'));
  EXPECT_EQ(c.ReadLive(1, 65536, 65536), std::string(65536, 'b'));
}

TEST(EngineFaultInjectionTest, PrimaryFsyncFailureFailsTheFlushAndSaysWhy) {
  EngineCluster c(kSize);
  ASSERT_TRUE(c.Write(0, std::string(4096, 'a')).ok());
  c.node(0).env.SetSyncError(absl::InternalError("fdatasync: Input/output error"));
  absl::Status s = Flush(c);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
  EXPECT_NE(c.engine()->View().local_error.find("Input/output error"), std::string::npos)
      << c.engine()->View().local_error;
  c.node(0).env.SetSyncError(absl::OkStatus());
  EXPECT_TRUE(Flush(c).ok());
}

TEST(EngineFaultInjectionTest, PrimaryDiskFullFailsTheWriteWithNoSpaceAndReplicasConverge) {
  EngineCluster c(kSize);
  ASSERT_TRUE(c.Write(0, std::string(65536, 'a')).ok());
  c.node(0).env.SetWriteError(absl::ResourceExhaustedError("write: No space left on device"));
  absl::Status s = c.Write(0, std::string(65536, 'z'));
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_NE(c.engine()->View().local_error.find("No space"), std::string::npos);
  c.node(0).env.SetWriteError(absl::OkStatus());
  ASSERT_TRUE(c.Write(131072, std::string(4096, 'c')).ok());
  ASSERT_TRUE(c.WaitInSync());
  // The secondaries applied the write the primary could not: they were given
  // the primary's bytes of that range back, so all three agree.
  ASSERT_TRUE(WaitFor([&] {
    return c.ReadLive(1, 0, 65536) == c.ReadLive(0, 0, 65536) &&
           c.ReadLive(2, 0, 65536) == c.ReadLive(0, 0, 65536);
  }));
  EXPECT_EQ(c.ReadLive(0, 0, 65536), std::string(65536, 'a'));
}

TEST(EngineFaultInjectionTest, BothSecondariesFullFailTheWriteAtOnce) {
  EngineCluster c(kSize);  // IO timeout 3 s: a refusal must not wait for it
  for (int i : {1, 2}) {
    c.node(i).env.SetWriteError(absl::ResourceExhaustedError("write: No space left on device"));
  }
  absl::Status s = c.Write(0, std::string(4096, 'x'));
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_NE(s.message().find("No space"), std::string::npos) << s;
  // Later writes know the peers refuse and fail at once too.
  EXPECT_EQ(c.Write(8192, std::string(4096, 'y')).code(), absl::StatusCode::kResourceExhausted);
  // Not the IO timeout's error (UNAVAILABLE): the replicas' own.
  for (int i : {1, 2}) c.node(i).env.SetWriteError(absl::OkStatus());
  ASSERT_TRUE(WaitFor([&] { return c.Write(8192, std::string(4096, 'w')).ok(); }));
  ASSERT_TRUE(c.WaitInSync());
}

TEST(EngineFaultInjectionTest, CrashOfEveryNodeKeepsWhatWasFlushed) {
  EngineCluster c(kSize);
  ASSERT_TRUE(c.Write(0, std::string(65536, 'A')).ok());
  ASSERT_TRUE(c.Write(65536, std::string(65536, 'B')).ok());
  ASSERT_TRUE(Flush(c).ok());
  // Acknowledged, never flushed: a power loss may take it.
  ASSERT_TRUE(c.Write(2 * 65536, std::string(65536, 'C')).ok());
  for (int i = 0; i < 3; ++i) c.Stop(i);
  for (int i = 0; i < 3; ++i) {
    EXPECT_GT(c.node(i).env.syncs(), 0) << "node " << i << " synced the flush";
    c.node(i).env.DropUnsyncedData();
  }
  for (int i = 0; i < 3; ++i) c.Start(i);
  ASSERT_TRUE(c.WaitInSync());
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(c.ReadLive(i, 0, 65536), std::string(65536, 'A')) << "node " << i;
    EXPECT_EQ(c.ReadLive(i, 65536, 65536), std::string(65536, 'B')) << "node " << i;
    EXPECT_EQ(c.ReadLive(i, 2 * 65536, 65536), c.ReadLive(0, 2 * 65536, 65536))
        << "node " << i << ": replicas agree on the unflushed range";
  }
}

TEST(EngineFaultInjectionTest, SecondaryMachineCrashIsComparedByChecksums) {
  EngineCluster c(kSize);
  ASSERT_TRUE(c.Write(0, std::string(65536, 'A')).ok());
  ASSERT_TRUE(Flush(c).ok());
  // Acknowledged by all three, synced by none.
  ASSERT_TRUE(c.Write(65536, std::string(65536, 'B')).ok());
  ASSERT_TRUE(c.WaitInSync());
  // node-2's machine loses power: its page cache is gone and it boots anew.
  c.Stop(2);
  c.node(2).env.DropUnsyncedData();
  c.node(2).env.SetBootId("boot-2");
  ASSERT_NE(c.ReadLive(0, 65536, 65536), std::string(65536, '\0'));
  c.Start(2);
  ASSERT_TRUE(c.WaitInSync());
  // Its primary did not know what it lost; the checksum comparison found it.
  EXPECT_EQ(c.ReadLive(2, 65536, 65536), std::string(65536, 'B'));
  EXPECT_EQ(c.ReadLive(2, 0, 65536), std::string(65536, 'A'));
}

TEST(EngineFaultInjectionTest, WriteWithoutMajorityFailsAtTheTimeoutAndIoResumes) {
  EngineCluster c(kSize);  // IO timeout 3 s
  c.Stop(1);
  c.Stop(2);
  absl::Status s = c.Write(0, std::string(4096, 'x'));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_NE(s.message().find("no majority"), std::string::npos) << s;
  c.Start(1);
  ASSERT_TRUE(WaitFor([&] { return c.Write(0, std::string(4096, 'y')).ok(); }));
  c.Start(2);
  ASSERT_TRUE(c.WaitInSync());
  EXPECT_EQ(c.ReadLive(2, 0, 4096), std::string(4096, 'y'));
}

}  // namespace
}  // namespace syncblock::repl
