// The NBD server against real clients we did not write (nbdinfo, qemu-io,
// qemu-img, nbdcopy, fio's nbd engine) and against a raw socket where exact
// bytes matter (pipelining, error mapping, disconnects). Each test starts the
// real NbdServer on 127.0.0.1 port 0 over file-backed test devices.
#include "replication/nbd/nbd_server.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "replication/nbd/nbd_protocol.h"
#include "tests/replication/nbd_raw_client.h"
#include "tests/replication/nbd_test_device.h"
#include "tests/support/test_util.h"

namespace syncblock::repl {
namespace {

using nbdtest::FileBlockDevice;
using nbdtest::MapExportProvider;
using nbdtest::RawNbdClient;
using syncblock::testing::RunCommand;

constexpr uint64_t kMiB = 1 << 20;

class NbdServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    provider_ = std::make_shared<MapExportProvider>();
    vol_ = AddExport("vol", 64 * kMiB);
    server_ = std::make_unique<NbdServer>(provider_);
    ASSERT_TRUE(server_->Listen("127.0.0.1", 0).ok());
    ASSERT_GT(server_->port(), 0);
  }
  void TearDown() override {
    server_->Stop();
    EXPECT_EQ(server_->ConnectionCount(), 0u);
  }

  std::shared_ptr<FileBlockDevice> AddExport(const std::string& name, uint64_t size,
                                             bool read_only = false) {
    auto device = std::make_shared<FileBlockDevice>(dir_.Join(name + ".img"), size, read_only);
    provider_->Add(name, device);
    devices_.push_back(device);
    return device;
  }

  std::string Uri(const std::string& name) const {
    return absl::StrCat("nbd://127.0.0.1:", server_->port(), "/", name);
  }

  static void RequireTool(const std::string& tool) {
    if (!syncblock::testing::HaveTool(tool)) GTEST_SKIP() << tool << " is not installed";
  }

  // Runs a command that must succeed; returns its output.
  static std::string Ok(const std::string& command) {
    auto r = RunCommand(command, std::chrono::seconds(120));
    EXPECT_EQ(r.exit_code, 0) << command << "\n" << r.output;
    return r.output;
  }

  std::string QemuIo(const std::string& name, const std::string& commands) {
    return Ok(absl::StrCat("qemu-io -f raw ", Uri(name), " ", commands));
  }

  std::string Pread(const FileBlockDevice& device, uint64_t offset, size_t length) {
    std::string out(length, '\0');
    EXPECT_EQ(::pread(device.fd(), out.data(), length, static_cast<off_t>(offset)),
              static_cast<ssize_t>(length));
    return out;
  }

  NbdExportStats StatsFor(const std::string& name) {
    for (const NbdExportStats& s : server_->Stats()) {
      if (s.export_name == name) return s;
    }
    ADD_FAILURE() << "no stats for " << name;
    return {};
  }

  std::string RandomFile(const std::string& name, size_t size) {
    std::string path = dir_.Join(name);
    std::mt19937_64 rng(size);
    std::string data(size, '\0');
    for (size_t i = 0; i + 8 <= size; i += 8) {
      uint64_t v = rng();
      std::memcpy(data.data() + i, &v, 8);
    }
    syncblock::testing::WriteFile(path, data);
    return path;
  }

  syncblock::testing::TempDir dir_;
  std::shared_ptr<MapExportProvider> provider_;
  std::vector<std::shared_ptr<FileBlockDevice>> devices_;
  std::shared_ptr<FileBlockDevice> vol_;
  std::unique_ptr<NbdServer> server_;
};

TEST_F(NbdServerTest, NbdinfoSeesSizeAndFlags) {
  RequireTool("nbdinfo");
  std::string out = Ok("nbdinfo --json " + Uri("vol"));
  auto json = nlohmann::json::parse(out, nullptr, false);
  ASSERT_FALSE(json.is_discarded()) << out;
  EXPECT_EQ(json["protocol"], "newstyle-fixed");
  EXPECT_EQ(json["structured"], false);
  auto e = json["exports"][0];
  EXPECT_EQ(e["export-name"], "vol");
  EXPECT_EQ(e["export-size"], 64 * kMiB);
  EXPECT_EQ(e["is_read_only"], false);
  EXPECT_EQ(e["can_flush"], true);
  EXPECT_EQ(e["can_fua"], true);
  EXPECT_EQ(e["can_trim"], true);
  EXPECT_EQ(e["can_zero"], true);
  EXPECT_EQ(e["can_multi_conn"], true);
  EXPECT_EQ(e["can_fast_zero"], false);
  EXPECT_EQ(e["block_size_minimum"], 1);
  EXPECT_EQ(e["block_size_preferred"], 4096);
  EXPECT_EQ(e["block_size_maximum"], 32 * kMiB);
  EXPECT_EQ(e["description"], "syncblock volume vol");
}

TEST_F(NbdServerTest, NbdinfoListsExportsAndReadOnlyFlag) {
  RequireTool("nbdinfo");
  AddExport("ro", 8 * kMiB, /*read_only=*/true);
  std::string out = Ok(absl::StrCat("nbdinfo --list --json nbd://127.0.0.1:", server_->port()));
  auto json = nlohmann::json::parse(out, nullptr, false);
  ASSERT_FALSE(json.is_discarded()) << out;
  std::map<std::string, nlohmann::json> by_name;
  for (auto& e : json["exports"]) by_name[e["export-name"]] = e;
  ASSERT_EQ(by_name.size(), 2u) << out;
  EXPECT_EQ(by_name["vol"]["export-size"], 64 * kMiB);
  EXPECT_EQ(by_name["ro"]["export-size"], 8 * kMiB);
  EXPECT_EQ(by_name["ro"]["is_read_only"], true);
  EXPECT_EQ(by_name["vol"]["is_read_only"], false);
}

TEST_F(NbdServerTest, UnknownExportIsACleanError) {
  RequireTool("nbdinfo");
  auto r = RunCommand("nbdinfo " + Uri("no-such-volume"), std::chrono::seconds(60));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("no-such-volume"), std::string::npos) << r.output;
  // The server keeps serving.
  Ok("nbdinfo --size " + Uri("vol"));
}

TEST_F(NbdServerTest, QemuIoPatternsFuaFlushDiscardZeroes) {
  RequireTool("qemu-io");
  QemuIo("vol", "-c 'write -P 0xab 0 1M' -c 'read -P 0xab 0 1M'");
  // Unaligned offsets and lengths.
  QemuIo("vol",
         "-c 'write -P 0x11 4097 12345' -c 'read -P 0x11 4097 12345' "
         "-c 'read -P 0xab 0 4097'");
  // Larger than the 32 MiB maximum block size: qemu splits it.
  QemuIo("vol", "-c 'write -P 0x22 16M 40M' -c 'read -P 0x22 16M 40M'");
  EXPECT_EQ(Pread(*vol_, 16 * kMiB, 4096), std::string(4096, '\x22'));
  EXPECT_EQ(Pread(*vol_, 56 * kMiB - 1, 1), std::string(1, '\x22'));
  // FUA writes and flushes reach the device.
  uint64_t fua_before = vol_->fua_writes();
  uint64_t flush_before = vol_->flushes();
  QemuIo("vol", "-c 'write -f -P 0x33 2M 64k' -c 'flush' -c 'read -P 0x33 2M 64k'");
  EXPECT_GT(vol_->fua_writes(), fua_before);
  EXPECT_GT(vol_->flushes(), flush_before);
  // Discard and write zeroes.
  QemuIo("vol",
         "-c 'write -P 0x44 4M 1M' -c 'discard 4M 512k' -c 'write -z 5M 1M' "
         "-c 'read -P 0 5M 1M' -c 'write -z -u 6M 64k' -c 'read -P 0 6M 64k'");
  EXPECT_GT(vol_->trims(), 0u);
  EXPECT_GT(vol_->zeroes(), 0u);
  EXPECT_EQ(Pread(*vol_, 5 * kMiB, 1 << 20), std::string(1 << 20, '\0'));
  EXPECT_EQ(Pread(*vol_, 0, 4096), std::string(4096, '\xab'));

  NbdExportStats s = StatsFor("vol");
  EXPECT_GE(s.writes, 4u);
  EXPECT_GE(s.bytes_written, 42 * kMiB);
  EXPECT_GE(s.bytes_read, 42 * kMiB);
  EXPECT_GE(s.flushes, 1u);
  EXPECT_GE(s.trims, 1u);
  EXPECT_GE(s.write_zeroes, 1u);
  EXPECT_EQ(s.write_latency_count, s.writes);
  std::string text = RenderNbdStatsPrometheus(server_->Stats());
  EXPECT_NE(text.find(absl::StrCat("syncblock_nbd_writes_total{export=\"vol\"} ", s.writes)),
            std::string::npos)
      << text;
}

TEST_F(NbdServerTest, DeviceErrorsReachQemuAsErrno) {
  RequireTool("qemu-io");
  vol_->SetFailure(IoOp::kWrite, absl::ResourceExhaustedError("disk full"));
  auto r = RunCommand(absl::StrCat("qemu-io -f raw ", Uri("vol"), " -c 'write 0 4k'"));
  EXPECT_NE(r.output.find("No space left on device"), std::string::npos) << r.output;
  vol_->SetFailure(IoOp::kWrite, absl::UnavailableError("no quorum"));
  r = RunCommand(absl::StrCat("qemu-io -f raw ", Uri("vol"), " -c 'write 0 4k'"));
  EXPECT_NE(r.output.find("Input/output error"), std::string::npos) << r.output;
  vol_->SetFailure(IoOp::kWrite, absl::OkStatus());
  QemuIo("vol", "-c 'write -P 1 0 4k'");
}

TEST_F(NbdServerTest, QemuImgConvertAndCompare) {
  RequireTool("qemu-img");
  AddExport("img", 8 * kMiB);
  std::string src = RandomFile("src.raw", 8 * kMiB);
  Ok(absl::StrCat("qemu-img convert -n -f raw -O raw ", src, " ", Uri("img")));
  Ok(absl::StrCat("qemu-img compare -f raw -F raw ", src, " ", Uri("img")));
  std::string out = dir_.Join("out.raw");
  Ok(absl::StrCat("qemu-img convert -f raw -O raw ", Uri("img"), " ", out));
  Ok(absl::StrCat("cmp ", src, " ", out));
}

TEST_F(NbdServerTest, NbdcopyRoundTripOverMultipleConnections) {
  RequireTool("nbdcopy");
  AddExport("copy", 16 * kMiB);
  std::string src = RandomFile("src.raw", 16 * kMiB);
  std::string out = dir_.Join("out.raw");
  Ok(absl::StrCat("nbdcopy --connections=4 --requests=16 ", src, " ", Uri("copy")));
  Ok(absl::StrCat("nbdcopy --connections=4 ", Uri("copy"), " ", out));
  std::string a = Ok("sha256sum < " + src);
  std::string b = Ok("sha256sum < " + out);
  EXPECT_EQ(a, b);
  EXPECT_EQ(syncblock::testing::ReadFile(out).size(), 16 * kMiB);
}

TEST_F(NbdServerTest, FioVerifiesUnderDeepQueues) {
  RequireTool("fio");
  auto r = RunCommand(
      absl::StrCat(
          "fio --name=nbd --ioengine=nbd --uri=", Uri("vol"),
          " --rw=randwrite --bs=4k --iodepth=32 --size=16M --verify=crc32c --verify_fatal=1"
          " --do_verify=1 --output-format=terse 2>&1"),
      std::chrono::seconds(180));
  if (r.output.find("engine nbd not loadable") != std::string::npos) {
    GTEST_SKIP() << "fio without the nbd engine";
  }
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = RunCommand(
      absl::StrCat(
          "fio --name=mixed --ioengine=nbd --uri=", Uri("vol"),
          " --rw=randrw --bsrange=512-256k --iodepth=32 --size=32M --runtime=3 --time_based"
          " --output-format=terse 2>&1"),
      std::chrono::seconds(180));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_GT(StatsFor("vol").writes, 4096u);
}

// --- Raw-socket tests: pipelining, ordering, teardown -------------------------------

TEST_F(NbdServerTest, RequestsArePipelinedAndRepliedOutOfOrder) {
  RawNbdClient c(server_->port());
  ASSERT_TRUE(c.Go("vol"));
  EXPECT_EQ(c.size, 64 * kMiB);
  // The device holds requests until 8 are pending, then completes them newest
  // first: this only finishes if the server reads ahead while requests wait.
  vol_->SetGate(8);
  std::string batch;
  for (uint64_t i = 0; i < 8; ++i) {
    batch += RawNbdClient::Request(nbd::kCmdRead, 100 + i, i * 4096, 4096);
  }
  ASSERT_TRUE(c.Send(batch));
  std::vector<uint64_t> handles;
  for (int i = 0; i < 8; ++i) {
    auto reply = c.ReadReply();
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->error, 0u);
    handles.push_back(reply->handle);
    ASSERT_TRUE(c.Recv(4096).has_value());
  }
  std::sort(handles.begin(), handles.end());
  for (uint64_t i = 0; i < 8; ++i) EXPECT_EQ(handles[i], 100 + i);
  // Executed newest first, so replies were not produced in request order.
  auto order = vol_->executed_offsets();
  ASSERT_EQ(order.size(), 8u);
  EXPECT_EQ(order.front(), 7 * 4096u);
  EXPECT_TRUE(c.WriteReadBack(0, std::string(512, 'p'), 900));
}

TEST_F(NbdServerTest, DisconnectWaitsForInFlightRequests) {
  vol_->SetGate(1000);  // hold everything
  {
    RawNbdClient c(server_->port());
    ASSERT_TRUE(c.Go("vol"));
    std::string batch;
    for (uint64_t i = 0; i < 4; ++i) {
      batch += RawNbdClient::Request(nbd::kCmdWrite, i, i * 512, 512) + std::string(512, 'w');
    }
    batch += RawNbdClient::Request(nbd::kCmdDisc, 99, 0, 0);
    ASSERT_TRUE(c.Send(batch));
    ASSERT_TRUE(syncblock::testing::WaitFor([&] { return vol_->held() == 4; }));
  }  // the client is gone while its requests are still in the device
  EXPECT_TRUE(syncblock::testing::WaitFor([&] { return server_->ConnectionCount() == 1; }));
  vol_->OpenGate();
  EXPECT_TRUE(syncblock::testing::WaitFor([&] { return server_->ConnectionCount() == 0; }));
  EXPECT_EQ(vol_->completed(), vol_->submitted());
  EXPECT_EQ(Pread(*vol_, 3 * 512, 512), std::string(512, 'w'));
}

TEST_F(NbdServerTest, DeviceErrorsMapToNbdErrors) {
  RawNbdClient c(server_->port());
  ASSERT_TRUE(c.Go("vol"));
  struct Case {
    absl::Status status;
    uint32_t error;
  };
  std::vector<Case> cases = {
      {absl::ResourceExhaustedError("full"), nbd::kEnospc},
      {absl::PermissionDeniedError("ro"), nbd::kEperm},
      {absl::UnimplementedError("no"), nbd::kEnotsup},
      {absl::OutOfRangeError("end"), nbd::kEinval},
      {absl::InvalidArgumentError("bad"), nbd::kEinval},
      {absl::UnavailableError("quorum"), nbd::kEio},
      {absl::DeadlineExceededError("timeout"), nbd::kEio},
      {absl::FailedPreconditionError("not primary"), nbd::kEshutdown},
  };
  uint64_t handle = 1;
  for (const Case& k : cases) {
    vol_->SetFailure(IoOp::kWrite, k.status);
    vol_->SetFailure(IoOp::kRead, k.status);
    ASSERT_TRUE(c.Send(RawNbdClient::Request(nbd::kCmdWrite, handle, 0, 8) + "12345678"));
    auto w = c.ReadReply();
    ASSERT_TRUE(w.has_value());
    EXPECT_EQ(w->error, k.error) << k.status;
    EXPECT_EQ(w->handle, handle++);
    // A failed READ carries no payload: the next reply follows directly.
    ASSERT_TRUE(c.Send(RawNbdClient::Request(nbd::kCmdRead, handle, 0, 4096)));
    auto r = c.ReadReply();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->error, k.error) << k.status;
    EXPECT_EQ(r->handle, handle++);
  }
  vol_->SetFailure(IoOp::kWrite, absl::OkStatus());
  vol_->SetFailure(IoOp::kRead, absl::OkStatus());
  EXPECT_TRUE(c.WriteReadBack(0, "after errors", handle));
  EXPECT_GE(StatsFor("vol").errors, 2 * cases.size());
}

TEST_F(NbdServerTest, ReadOnlyExportRefusesWrites) {
  auto ro = AddExport("ro", kMiB, /*read_only=*/true);
  RawNbdClient c(server_->port());
  ASSERT_TRUE(c.Go("ro"));
  EXPECT_TRUE(c.flags & nbd::kFlagReadOnly);
  ASSERT_TRUE(c.Send(RawNbdClient::Request(nbd::kCmdWrite, 1, 0, 4) + "abcd"));
  EXPECT_EQ(c.ReadReply()->error, nbd::kEperm);
  ASSERT_TRUE(c.Send(RawNbdClient::Request(nbd::kCmdTrim, 2, 0, 4)));
  EXPECT_EQ(c.ReadReply()->error, nbd::kEperm);
  ASSERT_TRUE(c.Send(RawNbdClient::Request(nbd::kCmdWriteZeroes, 3, 0, 4)));
  EXPECT_EQ(c.ReadReply()->error, nbd::kEperm);
  ASSERT_TRUE(c.Send(RawNbdClient::Request(nbd::kCmdRead, 4, 0, 4)));
  EXPECT_EQ(c.ReadReply()->error, 0u);
  EXPECT_EQ(*c.Recv(4), std::string(4, '\0'));
  EXPECT_EQ(ro->submitted(), 1u);  // refused writes never reach the device
}

TEST_F(NbdServerTest, CloseExportDisconnectsItsClientsOnly) {
  AddExport("other", kMiB);
  RawNbdClient a(server_->port());
  ASSERT_TRUE(a.Go("vol"));
  RawNbdClient b(server_->port());
  ASSERT_TRUE(b.Go("other"));
  ASSERT_TRUE(a.WriteReadBack(0, "before"));
  server_->CloseExport("vol");
  EXPECT_TRUE(a.WaitClosed());
  EXPECT_TRUE(b.WriteReadBack(0, "still here"));
  EXPECT_TRUE(syncblock::testing::WaitFor([&] { return server_->ConnectionCount() == 1; }));
}

TEST_F(NbdServerTest, StopClosesConnectionsAndIsIdempotent) {
  RawNbdClient a(server_->port());
  ASSERT_TRUE(a.Go("vol"));
  RawNbdClient idle(server_->port());  // still in the handshake
  ASSERT_TRUE(idle.connected());
  server_->Stop();
  EXPECT_TRUE(a.WaitClosed());
  EXPECT_TRUE(idle.WaitClosed());
  server_->Stop();
}

TEST_F(NbdServerTest, ManyConnectionsToOneExport) {
  std::vector<std::unique_ptr<RawNbdClient>> clients;
  for (int i = 0; i < 8; ++i) {
    clients.push_back(std::make_unique<RawNbdClient>(server_->port()));
    ASSERT_TRUE(clients.back()->Go("vol"));
    EXPECT_TRUE(clients.back()->flags & nbd::kFlagCanMultiConn);
  }
  for (int i = 0; i < 8; ++i) {
    EXPECT_TRUE(clients[i]->WriteReadBack(i * 4096, std::string(4096, 'a' + i)));
  }
  // A write on one connection is visible on another.
  ASSERT_TRUE(clients[0]->Send(RawNbdClient::Request(nbd::kCmdRead, 7, 5 * 4096, 4096)));
  ASSERT_EQ(clients[0]->ReadReply()->error, 0u);
  EXPECT_EQ(*clients[0]->Recv(4096), std::string(4096, 'f'));
  EXPECT_EQ(StatsFor("vol").connections, 8u);
}

}  // namespace
}  // namespace syncblock::repl
