// PrimaryFollower and NbdPool against real NBD servers (our own NbdServer,
// in-process, over loopback TCP, each serving a file-backed test device):
// which failures make the follower find the primary again and resend (a
// closed connection, a refused connection, an unknown export, NBD_ESHUTDOWN
// from a deposed primary) and which reach the caller at once (EIO, ENOSPC
// from a healthy server); holding IO until a primary appears; failing with
// EIO after the failover timeout and serving again afterwards.
#include "replication/initiator/primary_follower.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "replication/initiator/nbd_client.h"
#include "replication/initiator/nbd_io.h"
#include "replication/initiator/nbd_pool.h"
#include "replication/nbd/nbd_server.h"
#include "tests/replication/nbd_test_device.h"
#include "tests/support/test_util.h"

namespace syncblock::repl::initiator {
namespace {

using ::syncblock::repl::IoOp;
using ::syncblock::repl::nbdtest::FileBlockDevice;
using ::syncblock::repl::nbdtest::MapExportProvider;

constexpr uint64_t kSize = 8 << 20;

// One storage node's NBD side: a server and the exports it serves now.
struct Node {
  explicit Node(const std::string& file) {
    device = std::make_shared<FileBlockDevice>(file, kSize);
    exports = std::make_shared<MapExportProvider>();
    server = std::make_unique<repl::NbdServer>(exports);
    EXPECT_TRUE(server->Listen("127.0.0.1", 0).ok());
    uri = "nbd://127.0.0.1:" + std::to_string(server->port()) + "/vol";
  }
  void Serve() { exports->Add("vol", device); }
  // What a storage node does when it loses the primary role: requests still
  // in its engine fail "not the primary", it stops exporting the volume and
  // drops the export's connections.
  void Depose() {
    device->SetFailure(IoOp::kWrite, absl::FailedPreconditionError("not the primary"));
    device->SetFailure(IoOp::kRead, absl::FailedPreconditionError("not the primary"));
    exports->Remove("vol");
  }
  std::string ReadBack(uint64_t offset, size_t length) {
    std::string out(length, '\0');
    if (pread(device->fd(), out.data(), length, static_cast<off_t>(offset)) !=
        static_cast<ssize_t>(length)) {
      return "";
    }
    return out;
  }

  std::shared_ptr<FileBlockDevice> device;
  std::shared_ptr<MapExportProvider> exports;
  std::unique_ptr<repl::NbdServer> server;
  std::string uri;
};

// Stands in for the storage nodes' control API: the primary is the first
// candidate whose handshake succeeds (GrpcPrimaryResolver confirms its
// answers the same way; it has its own test).
class ProbingResolver : public PrimaryResolver {
 public:
  explicit ProbingResolver(std::vector<std::string> candidates)
      : candidates_(std::move(candidates)) {}
  absl::StatusOr<std::string> Resolve(const std::string&, const std::string&,
                                      const std::vector<std::string>&) override {
    ++calls_;
    for (const auto& uri : candidates_) {
      auto conn = NbdConnect(*ParseNbdUri(uri), std::chrono::seconds(2));
      if (conn.ok()) {
        conn->Disconnect();
        return uri;
      }
    }
    return absl::UnavailableError("no candidate serves the volume");
  }
  int calls() const { return calls_.load(); }

 private:
  std::vector<std::string> candidates_;
  std::atomic<int> calls_{0};
};

class PrimaryFollowerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a_.Serve();
    follower_ = MakeFollower(std::chrono::seconds(60));
    ASSERT_TRUE(follower_->Start(a_.uri).ok());
  }

  std::unique_ptr<PrimaryFollower> MakeFollower(std::chrono::milliseconds timeout) {
    PrimaryFollowerOptions o;
    o.volume_id = "vol";
    o.failover_timeout = timeout;
    o.retry_interval = std::chrono::milliseconds(50);
    o.on_connected = [this](const std::string& uri) {
      std::lock_guard<std::mutex> l(mu_);
      connected_.push_back(uri);
    };
    return std::make_unique<PrimaryFollower>(&pool_, &resolver_, std::move(o));
  }

  absl::Status Write(uint64_t offset, char fill, size_t length = 4096) {
    std::string data(length, fill);
    return follower_->Run([&](NbdIoConnection& c) {
      return c.Write(offset, static_cast<uint32_t>(length), data.data());
    });
  }
  absl::Status Read(uint64_t offset, std::string* out, size_t length = 4096) {
    out->assign(length, '\0');
    return follower_->Run([&](NbdIoConnection& c) {
      return c.Read(offset, static_cast<uint32_t>(length), out->data());
    });
  }
  std::vector<std::string> connected() {
    std::lock_guard<std::mutex> l(mu_);
    return connected_;
  }

  testing::TempDir dir_;
  Node a_{dir_.Join("a.img")};
  Node b_{dir_.Join("b.img")};
  ProbingResolver resolver_{{a_.uri, b_.uri}};
  NbdPool pool_{4};
  std::unique_ptr<PrimaryFollower> follower_;
  std::mutex mu_;
  std::vector<std::string> connected_;
};

TEST_F(PrimaryFollowerTest, ServesFromTheStartUri) {
  ASSERT_TRUE(Write(0, 'a').ok());
  EXPECT_EQ(a_.ReadBack(0, 4096), std::string(4096, 'a'));
  EXPECT_EQ(resolver_.calls(), 0);
  EXPECT_EQ(connected(), std::vector<std::string>{a_.uri});
}

TEST_F(PrimaryFollowerTest, IoErrorOfAHealthyPrimaryReachesTheCallerAtOnce) {
  a_.device->SetFailure(IoOp::kWrite, absl::DataLossError("disk says EIO"));
  absl::Status st = Write(0, 'x');
  EXPECT_EQ(ErrnoOf(st), EIO) << st;
  a_.device->SetFailure(IoOp::kWrite, absl::ResourceExhaustedError("full"));
  st = Write(0, 'x');
  EXPECT_EQ(ErrnoOf(st), ENOSPC) << st;
  a_.device->SetFailure(IoOp::kWrite, absl::OkStatus());
  EXPECT_TRUE(Write(0, 'y').ok());
  // Neither error made it look for another primary.
  EXPECT_EQ(resolver_.calls(), 0);
  EXPECT_EQ(follower_->current_uri(), a_.uri);
}

TEST_F(PrimaryFollowerTest, ShutdownReplyOfADeposedPrimaryIsResentToTheNewOne) {
  ASSERT_TRUE(Write(0, 'a').ok());
  // The export stays connected (no CloseExport): only the ESHUTDOWN answer
  // tells the client.
  a_.Depose();
  b_.Serve();
  ASSERT_TRUE(Write(4096, 'b').ok());
  EXPECT_EQ(b_.ReadBack(4096, 4096), std::string(4096, 'b'));
  EXPECT_EQ(follower_->current_uri(), b_.uri);
  EXPECT_EQ(connected(), (std::vector<std::string>{a_.uri, b_.uri}));
}

TEST_F(PrimaryFollowerTest, ClosedConnectionAndUnknownExportFollowThePrimary) {
  std::string got;
  ASSERT_TRUE(Write(0, 'a').ok());
  a_.Depose();
  a_.server->CloseExport("vol");  // EOF; a new handshake there: NBD_REP_ERR_UNKNOWN
  b_.Serve();
  ASSERT_TRUE(Read(0, &got).ok());
  EXPECT_EQ(follower_->current_uri(), b_.uri);
  EXPECT_GE(resolver_.calls(), 1);
}

TEST_F(PrimaryFollowerTest, RestartedServerIsReconnectedWithoutAResolver) {
  // No volume id: the URI it was given is all it knows.
  PrimaryFollowerOptions o;
  o.retry_interval = std::chrono::milliseconds(50);
  NbdPool pool(2);
  PrimaryFollower plain(&pool, nullptr, o);
  ASSERT_TRUE(plain.Start(a_.uri).ok());
  a_.server->CloseExport("vol");
  std::string data(4096, 'r');
  EXPECT_TRUE(plain.Run([&](NbdIoConnection& c) { return c.Write(0, 4096, data.data()); }).ok());
  EXPECT_EQ(a_.ReadBack(0, 4096), data);
}

TEST_F(PrimaryFollowerTest, HoldsIoUntilAPrimaryAppears) {
  ASSERT_TRUE(Write(0, 'a').ok());
  a_.Depose();
  a_.server->Stop();  // the node is gone: connections refused
  // Several requests are held at once; one thread resolves, all resend.
  std::vector<std::thread> writers;
  std::atomic<int> failed{0};
  std::atomic<int> done{0};
  for (int i = 0; i < 6; ++i) {
    writers.emplace_back([&, i] {
      if (!Write(static_cast<uint64_t>(i) * 65536, static_cast<char>('0' + i), 65536).ok()) {
        ++failed;
      }
      ++done;
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(done.load(), 0) << "requests must be held while there is no primary";
  b_.Serve();
  for (auto& t : writers) t.join();
  EXPECT_EQ(failed.load(), 0);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(b_.ReadBack(static_cast<uint64_t>(i) * 65536, 65536),
              std::string(65536, static_cast<char>('0' + i)));
  }
  EXPECT_EQ(follower_->current_uri(), b_.uri);
}

TEST_F(PrimaryFollowerTest, NoPrimaryFailsWithEioAfterTheTimeoutThenServesAgain) {
  follower_ = MakeFollower(std::chrono::seconds(1));
  ASSERT_TRUE(follower_->Start(a_.uri).ok());
  a_.Depose();
  a_.server->Stop();
  const auto start = std::chrono::steady_clock::now();
  absl::Status st = Write(0, 'x');
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(absl::IsDeadlineExceeded(st)) << st;
  EXPECT_EQ(ErrnoOf(st), EIO);
  EXPECT_GE(waited, std::chrono::seconds(1));
  EXPECT_LT(waited, std::chrono::seconds(30));  // liveness only
  b_.Serve();
  EXPECT_TRUE(Write(0, 'y').ok());
  EXPECT_EQ(b_.ReadBack(0, 4096), std::string(4096, 'y'));
}

TEST_F(PrimaryFollowerTest, RefreshReReadsTheSizeOfTheCurrentServer) {
  const uint64_t serial = pool_.connect_serial();
  ASSERT_TRUE(follower_->Refresh().ok());
  EXPECT_GT(pool_.connect_serial(), serial);
  EXPECT_EQ(pool_.size(), kSize);
  EXPECT_EQ(follower_->current_uri(), a_.uri);
}

TEST(NbdPoolTest, ConnectionLossIsToldApartFromServerErrors) {
  testing::TempDir dir;
  Node a(dir.Join("a.img"));
  a.Serve();
  NbdPool pool(2);
  // Before any Connect every attempt is a lost connection.
  auto before = pool.Run([](NbdIoConnection& c) { return c.Flush(); });
  EXPECT_TRUE(before.connection_lost);
  ASSERT_TRUE(pool.Connect(*ParseNbdUri(a.uri)).ok());
  char buf[512];
  a.device->SetFailure(IoOp::kRead, absl::InternalError("EIO"));
  auto eio = pool.Run([&](NbdIoConnection& c) { return c.Read(0, 512, buf); });
  EXPECT_FALSE(eio.connection_lost) << eio.status;
  EXPECT_EQ(ErrnoOf(eio.status), EIO);
  a.device->SetFailure(IoOp::kRead, absl::FailedPreconditionError("not the primary"));
  auto shut = pool.Run([&](NbdIoConnection& c) { return c.Read(0, 512, buf); });
  EXPECT_TRUE(shut.connection_lost) << shut.status;
  a.device->SetFailure(IoOp::kRead, absl::OkStatus());
  a.exports->Remove("vol");
  a.server->CloseExport("vol");
  auto unknown = pool.Run([&](NbdIoConnection& c) { return c.Read(0, 512, buf); });
  EXPECT_TRUE(unknown.connection_lost) << unknown.status;
  EXPECT_TRUE(absl::IsNotFound(unknown.status)) << unknown.status;
}

}  // namespace
}  // namespace syncblock::repl::initiator
