// PeerLink against a replica played by the test over a socketpair (a fake
// Dialer): frames go out in order and are matched to acknowledgements; a
// reserved frame holds back what follows it; a peer that does not answer is
// dropped after the stall bound, one that does not read after the queue
// bound, and every region it missed is in its dirty bitmap.
#include "replication/engine/peer_link.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mutex>

#include "tests/support/fake_clock.h"
#include "tests/support/test_util.h"

namespace syncblock::repl {
namespace {

using syncblock::testing::TempDir;
using syncblock::testing::WaitFor;

// Hands out one end of a fresh socketpair per dial; the test keeps the other.
class PairDialer : public Dialer {
 public:
  absl::StatusOr<int> Dial(const std::string&, std::chrono::milliseconds) override {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      return absl::UnavailableError("socketpair");
    }
    std::lock_guard<std::mutex> l(mu);
    replica_ends.push_back(sv[1]);
    return sv[0];
  }
  int Take() {
    std::lock_guard<std::mutex> l(mu);
    if (replica_ends.empty()) return -1;
    int fd = replica_ends.front();
    replica_ends.erase(replica_ends.begin());
    return fd;
  }
  std::mutex mu;
  std::vector<int> replica_ends;
};

class RecordingDelegate : public PeerLink::Delegate {
 public:
  std::string HelloPayload(const PeerLink&) override { return "{}"; }
  void Connected(PeerLink& link, const HelloReply&, int fd) override { link.BeginStream(fd); }
  void Refused(PeerLink&, const HelloReply&) override {}
  void Acked(PeerLink&, uint64_t, const OutgoingFrame& sent, const Frame&) override {
    std::lock_guard<std::mutex> l(mu);
    acked.push_back(sent.header.seq);
  }
  void Disconnected(PeerLink&, uint64_t) override { ++disconnects; }
  std::vector<uint64_t> Acked() {
    std::lock_guard<std::mutex> l(mu);
    return acked;
  }
  std::mutex mu;
  std::vector<uint64_t> acked;
  std::atomic<int> disconnects{0};
};

std::shared_ptr<OutgoingFrame> WriteFrameAt(uint64_t seq, uint64_t region, size_t bytes = 4096) {
  auto f = std::make_shared<OutgoingFrame>();
  f->header.type = FrameType::kWrite;
  f->header.epoch = 1;
  f->header.seq = seq;
  f->header.offset = region * 65536;
  f->header.length = static_cast<uint32_t>(bytes);
  f->has_regions = true;
  f->first_region = f->last_region = region;
  f->SetPayload(std::make_shared<const std::string>(bytes, 'w'));
  f->Encode();
  return f;
}

class PeerLinkTest : public ::testing::Test {
 protected:
  void StartLink(PeerLinkOptions opts) {
    auto bitmap = DirtyBitmap::Open(dir_.Join("peer.bitmap"), 64);
    ASSERT_TRUE(bitmap.ok()) << bitmap.status();
    opts.reconnect_interval = std::chrono::milliseconds(50);
    link_ = std::make_unique<PeerLink>(MemberInfo{"node-1", "", "127.0.0.1:1", "", ""}, 0,
                                       *std::move(bitmap), opts, dialer_, &delegate_);
    link_->Start();
  }
  // Plays the replica's side of the hello; returns its end of the connection.
  int AcceptHello() {
    int fd = -1;
    EXPECT_TRUE(WaitFor([&] { return (fd = dialer_->Take()) >= 0; }));
    Frame hello;
    EXPECT_TRUE(ReadFrame(fd, &hello).ok());
    EXPECT_EQ(hello.header.type, FrameType::kHello);
    FrameHeader h;
    h.type = FrameType::kHelloReply;
    HelloReply reply;
    EXPECT_TRUE(WriteFrame(fd, h, EncodeHelloReply(reply)).ok());
    EXPECT_TRUE(WaitFor([&] { return link_->state() == PeerState::kResyncing; }));
    return fd;
  }
  void Ack(int fd, const Frame& f) {
    FrameHeader h;
    h.type = FrameType::kAck;
    h.seq = f.header.seq;
    h.length = static_cast<uint32_t>(f.header.type);
    ASSERT_TRUE(WriteFrame(fd, h, "").ok());
  }
  void TearDown() override {
    if (link_) link_->Stop();
    for (int fd : open_) close(fd);
  }

  TempDir dir_;
  std::shared_ptr<PairDialer> dialer_ = std::make_shared<PairDialer>();
  RecordingDelegate delegate_;
  std::unique_ptr<PeerLink> link_;
  std::vector<int> open_;
};

TEST_F(PeerLinkTest, FramesGoOutInOrderAndAcksMatchThem) {
  StartLink({});
  int fd = AcceptHello();
  open_.push_back(fd);
  for (uint64_t s = 1; s <= 20; ++s) ASSERT_TRUE(link_->Enqueue(WriteFrameAt(s, s)));
  for (uint64_t s = 1; s <= 20; ++s) {
    Frame f;
    ASSERT_TRUE(ReadFrame(fd, &f).ok());
    EXPECT_EQ(f.header.seq, s);
    EXPECT_EQ(f.payload, std::string(4096, 'w'));
    Ack(fd, f);
  }
  ASSERT_TRUE(WaitFor([&] { return delegate_.Acked().size() == 20; }));
  for (uint64_t s = 1; s <= 20; ++s) EXPECT_EQ(delegate_.Acked()[s - 1], s);
  EXPECT_EQ(link_->GetView().unacked, 0u);
  EXPECT_EQ(link_->DirtyCount(), 0u);
}

TEST_F(PeerLinkTest, ReservedFrameHoldsBackWhatFollowsUntilFilled) {
  StartLink({});
  int fd = AcceptHello();
  open_.push_back(fd);
  auto reserved = WriteFrameAt(1, 1);
  reserved->state = OutgoingFrame::kReserved;
  ASSERT_TRUE(link_->Enqueue(reserved));
  ASSERT_TRUE(link_->Enqueue(WriteFrameAt(2, 2)));
  pollfd p{fd, POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, 100), 0) << "nothing may overtake a reserved frame";
  reserved->state.store(OutgoingFrame::kReady);
  link_->Wake();
  Frame f;
  ASSERT_TRUE(ReadFrame(fd, &f).ok());
  EXPECT_EQ(f.header.seq, 1u);
  ASSERT_TRUE(ReadFrame(fd, &f).ok());
  EXPECT_EQ(f.header.seq, 2u);
}

TEST_F(PeerLinkTest, NotStreamingMarksTheBitmap) {
  StartLink({});
  EXPECT_FALSE(link_->Enqueue(WriteFrameAt(1, 5)));
  EXPECT_TRUE(link_->IsDirty(5));
  EXPECT_EQ(link_->DirtyCount(), 1u);
}

TEST_F(PeerLinkTest, SilentPeerIsDroppedAfterTheStallBoundWithItsRegionsDirty) {
  PeerLinkOptions o;
  o.stall_timeout = std::chrono::milliseconds(200);
  StartLink(o);
  int fd = AcceptHello();
  open_.push_back(fd);
  for (uint64_t s = 1; s <= 3; ++s) ASSERT_TRUE(link_->Enqueue(WriteFrameAt(s, 10 + s)));
  // The replica reads but never answers (a hung process).
  ASSERT_TRUE(WaitFor([&] {
    link_->CheckStall(std::chrono::steady_clock::now());
    return link_->state() == PeerState::kOffline;
  }));
  for (uint64_t r = 11; r <= 13; ++r) EXPECT_TRUE(link_->IsDirty(r)) << r;
  EXPECT_NE(link_->GetView().message.find("no acknowledgement"), std::string::npos)
      << link_->GetView().message;
  EXPECT_FALSE(link_->Enqueue(WriteFrameAt(4, 20))) << "a dropped peer gets the bitmap";
  EXPECT_TRUE(link_->IsDirty(20));
  // It reconnects by itself.
  int again = AcceptHello();
  open_.push_back(again);
  EXPECT_GE(delegate_.disconnects.load(), 1);
}

TEST_F(PeerLinkTest, StallIsDecidedByTheInjectedClock) {
  syncblock::testing::FakeClock clock;
  PeerLinkOptions o;
  o.stall_timeout = std::chrono::hours(1);
  o.clock = &clock;
  StartLink(o);
  int fd = AcceptHello();
  open_.push_back(fd);
  ASSERT_TRUE(link_->Enqueue(WriteFrameAt(1, 7)));
  Frame f;
  ASSERT_TRUE(ReadFrame(fd, &f).ok());  // read, never answered
  link_->CheckStall(clock.Now());
  EXPECT_EQ(link_->state(), PeerState::kResyncing) << "an hour has not passed";
  clock.Advance(std::chrono::hours(2));
  link_->CheckStall(clock.Now());
  EXPECT_EQ(link_->state(), PeerState::kOffline);
  EXPECT_TRUE(link_->IsDirty(7));
}

TEST_F(PeerLinkTest, PeerThatDoesNotReadIsDroppedAtTheQueueBound) {
  PeerLinkOptions o;
  o.max_queue_bytes = 1 << 20;
  StartLink(o);
  int fd = AcceptHello();
  open_.push_back(fd);
  // Nobody reads `fd`: the socket buffer fills, then the queue.
  int queued = 0;
  for (uint64_t s = 1; s <= 4096 && link_->Enqueue(WriteFrameAt(s, s % 64, 65536)); ++s) ++queued;
  EXPECT_LT(queued, 4096) << "the bound was never reached";
  EXPECT_EQ(link_->state(), PeerState::kOffline);
  EXPECT_NE(link_->GetView().message.find("fell behind"), std::string::npos);
  // Every region it was sent (each frame its own), and the one refused.
  EXPECT_EQ(link_->DirtyCount(), static_cast<uint64_t>(queued + 1));
}

TEST_F(PeerLinkTest, RefusalLeavesThePeerFailedWithTheError) {
  StartLink({});
  int fd = AcceptHello();
  open_.push_back(fd);
  auto f1 = WriteFrameAt(1, 1);
  ASSERT_TRUE(link_->Enqueue(f1));
  Frame f;
  ASSERT_TRUE(ReadFrame(fd, &f).ok());
  std::vector<uint64_t> lost = link_->Drop(link_->session(), "replica reported: no space",
                                           absl::ResourceExhaustedError("no space"), f1.get());
  EXPECT_EQ(link_->state(), PeerState::kFailed);
  EXPECT_EQ(link_->refusal().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(link_->IsDirty(1));
  EXPECT_FALSE(lost.empty());
}

}  // namespace
}  // namespace syncblock::repl
