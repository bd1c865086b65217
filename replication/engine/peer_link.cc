#include "replication/engine/peer_link.h"

#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "replication/engine/link_security.h"
#include "replication/util/logging.h"
#include "replication/util/socket.h"
#include "replication/util/wipe.h"

namespace syncblock::repl {

namespace {

// One writev: at most this many frames (two iovecs each) or bytes.
constexpr size_t kBatchFrames = 256;
constexpr uint64_t kBatchBytes = 4 << 20;

int64_t Ms(std::chrono::steady_clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

}  // namespace

const char* PeerStateName(PeerState s) {
  switch (s) {
    case PeerState::kOffline:
      return "offline";
    case PeerState::kResyncing:
      return "resyncing";
    case PeerState::kInSync:
      return "in_sync";
    case PeerState::kFailed:
      return "failed";
  }
  return "unknown";
}

PeerLink::PeerLink(MemberInfo member, uint32_t slot, std::unique_ptr<DirtyBitmap> bitmap,
                   PeerLinkOptions opts, std::shared_ptr<Dialer> dialer, Delegate* delegate)
    : slot_(slot),
      async_(member.async),
      opts_(opts),
      clock_(opts.clock ? opts.clock : syncblock::Clock::Real()),
      dialer_(std::move(dialer)),
      delegate_(delegate),
      member_(std::move(member)),
      bitmap_(std::move(bitmap)),
      out_of_sync_since_(clock_->Now()) {}

PeerLink::~PeerLink() { Stop(); }

void PeerLink::Start() {
  link_thread_ = std::thread([this] { LinkLoop(); });
}

void PeerLink::Stop() {
  {
    MutexLock l(&mu_);
    if (stopping_ && !link_thread_.joinable()) return;
    stopping_ = true;
    if (streaming_) DropLocked("the primary is stopping", absl::OkStatus(), nullptr);
    if (dialing_fd_ >= 0) shutdown(dialing_fd_, SHUT_RDWR);
    changed_.SignalAll();
  }
  if (link_thread_.joinable()) link_thread_.join();
}

void PeerLink::SetMember(const MemberInfo& m) {
  MutexLock l(&mu_);
  member_.control_address = m.control_address;
  member_.replication_address = m.replication_address;
  member_.zone = m.zone;
}

uint64_t PeerLink::BeginStream(int fd) {
  MutexLock l(&mu_);
  if (stopping_) return 0;
  fd_ = fd;
  streaming_ = true;
  ++session_;
  state_ = PeerState::kResyncing;
  message_.clear();
  resync_done_seq_ = 0;
  checksum_reply_.reset();
  last_progress_ = clock_->Now();
  return session_;
}

void PeerLink::MarkLostLocked(const OutgoingFrame& f) {
  if (!f.has_regions) return;
  if (absl::Status s = bitmap_->Mark(f.first_region, f.last_region); !s.ok()) {
    // Without the mark, a resync from this bitmap could miss the region: the
    // next resync of this peer compares every region instead.
    spdlog::error("replica {}: dirty bitmap: {}; it gets a full copy at its next resync",
                  member_.node_id, s.message());
    state_ = PeerState::kFailed;
    message_ = absl::StrCat("dirty bitmap write failed (", s.message(), "): needs a full resync");
    needs_full_ = true;
  }
}

bool PeerLink::Enqueue(const std::shared_ptr<OutgoingFrame>& frame) {
  MutexLock l(&mu_);
  if (member_.witness) {
    // A witness holds no data: it misses nothing by not getting it.
    const FrameType t = frame->header.type;
    if (t != FrameType::kLease && t != FrameType::kManifest && t != FrameType::kWitnessRecord) {
      return false;
    }
  }
  if (!streaming_) {
    MarkLostLocked(*frame);
    return false;
  }
  uint64_t bytes = kFrameHeaderSize + frame->payload_size();
  if (pipeline_bytes_ + bytes > QueueLimitLocked()) {
    DropLocked(absl::StrCat("fell behind by more than ", QueueLimitLocked(),
                            " bytes; it is resynced when it catches up"),
               absl::OkStatus(), frame.get());
    return false;
  }
  const bool idle = queue_.empty() && unacked_.empty();
  // Only an asynchronous replica's lag needs each frame's time: the clock is
  // not read per write for the others.
  const auto now = async_ || idle ? clock_->Now() : Clock::time_point();
  if (idle) last_progress_ = now;
  if (async_ && frame->header.type == FrameType::kLease) {
    queue_.push_back({WithLagReportLocked(*frame, now), bytes, now});
  } else {
    queue_.push_back({frame, bytes, now});
  }
  pipeline_bytes_ += bytes;
  if (queue_.size() == 1) changed_.SignalAll();
  return true;
}

bool PeerLink::witness() const {
  MutexLock l(&mu_);
  return member_.witness;
}

void PeerLink::Wake() {
  MutexLock l(&mu_);
  changed_.SignalAll();
}

std::vector<uint64_t> PeerLink::DropLocked(const std::string& why, const absl::Status& refusal,
                                           const OutgoingFrame* also) {
  std::vector<uint64_t> lost;
  if (also) {
    MarkLostLocked(*also);
    lost.push_back(also->header.seq);
  }
  if (!streaming_) return lost;
  streaming_ = false;
  ++session_;
  if (fd_ >= 0) shutdown(fd_, SHUT_RDWR);  // the link thread closes it
  for (auto* q : {&unacked_, &queue_}) {
    for (const auto& q_entry : *q) {
      const OutgoingFrame& f = *q_entry.frame;
      MarkLostLocked(f);
      if (f.has_regions) lost.push_back(f.header.seq);
    }
    q->clear();
  }
  pipeline_bytes_ = 0;
  if (state_ == PeerState::kInSync) out_of_sync_since_ = clock_->Now();
  bool was_failed = state_ == PeerState::kFailed;
  state_ = refusal.ok() && !was_failed ? PeerState::kOffline : PeerState::kFailed;
  if (!refusal.ok()) refusal_ = refusal;
  if (!was_failed) message_ = why;
  resync_done_seq_ = 0;
  checksum_reply_.reset();
  if (!stopping_) spdlog::warn("replica {} is out of sync: {}", member_.node_id, why);
  changed_.SignalAll();
  return lost;
}

std::vector<uint64_t> PeerLink::Drop(uint64_t session, const std::string& why,
                                     const absl::Status& refusal, const OutgoingFrame* also) {
  MutexLock l(&mu_);
  if (session != 0 && session != session_) {
    if (also) MarkLostLocked(*also);
    return {};
  }
  return DropLocked(why, refusal, also);
}

void PeerLink::CheckStall(Clock::time_point now) {
  MutexLock l(&mu_);
  if (!streaming_ || (unacked_.empty() && queue_.empty())) return;
  if (async_ && async_policy_.policy == LagPolicy::kPullAhead && state_ == PeerState::kInSync &&
      OverLagLocked(now)) {
    DropLocked(absl::StrCat("behind by ", Ms(LagLocked(now).age), " ms, more than its bound of ",
                            async_policy_.max_lag.count(),
                            " ms: pulled ahead (lagPolicy pull-ahead); it is caught up from its "
                            "dirty bitmap"),
               absl::OkStatus(), nullptr);
    return;
  }
  if (!unacked_.empty() && unacked_.front().frame->slow) return;
  if (now - last_progress_ < opts_.stall_timeout) return;
  DropLocked(absl::StrCat("no acknowledgement for ", Ms(now - last_progress_), " ms with ",
                          unacked_.size() + queue_.size(),
                          " frames outstanding (hung or too slow); it is resynced when it returns"),
             absl::OkStatus(), nullptr);
}

uint64_t PeerLink::session() const {
  MutexLock l(&mu_);
  return session_;
}

bool PeerLink::streaming(uint64_t session) const {
  MutexLock l(&mu_);
  return Live(session);
}

PeerState PeerLink::state() const {
  MutexLock l(&mu_);
  return state_;
}

bool PeerLink::CaughtUp() const {
  MutexLock l(&mu_);
  return streaming_ && (state_ == PeerState::kInSync || resync_done_seq_ != 0);
}

absl::Status PeerLink::refusal() const {
  MutexLock l(&mu_);
  return state_ == PeerState::kFailed ? refusal_ : absl::OkStatus();
}

void PeerLink::SetResyncDone(uint64_t session, uint64_t seq) {
  MutexLock l(&mu_);
  if (Live(session)) resync_done_seq_ = seq;
}

uint64_t PeerLink::resync_done_seq() const {
  MutexLock l(&mu_);
  return resync_done_seq_;
}

bool PeerLink::MarkInSync(uint64_t session, uint64_t seq) {
  MutexLock l(&mu_);
  if (!Live(session) || state_ != PeerState::kResyncing || seq != resync_done_seq_) return false;
  // Under the link's mutex: a frame lost after this point is marked after
  // the clearing, never before it.
  if (absl::Status s = bitmap_->ClearAll(); !s.ok()) {
    spdlog::error("replica {}: clearing its dirty bitmap: {}", member_.node_id, s.message());
  }
  state_ = PeerState::kInSync;
  refusal_ = absl::OkStatus();
  message_.clear();
  needs_full_ = false;
  return true;
}

bool PeerLink::needs_full() const {
  MutexLock l(&mu_);
  return needs_full_;
}

void PeerLink::SetNeedsFull() {
  MutexLock l(&mu_);
  needs_full_ = true;
}

void PeerLink::SetMessage(const std::string& message) {
  MutexLock l(&mu_);
  message_ = message;
}

absl::Status PeerLink::MarkDirty(uint64_t first, uint64_t last) {
  MutexLock l(&mu_);
  return bitmap_->Mark(first, last);
}

absl::Status PeerLink::MarkAllDirty() {
  MutexLock l(&mu_);
  return bitmap_->MarkAll();
}

std::optional<uint64_t> PeerLink::NextDirty(uint64_t from) const {
  MutexLock l(&mu_);
  return bitmap_->NextSet(from);
}

bool PeerLink::IsDirty(uint64_t region) const {
  MutexLock l(&mu_);
  return bitmap_->Test(region);
}

uint64_t PeerLink::DirtyCount() const {
  MutexLock l(&mu_);
  return bitmap_->count();
}

absl::Status PeerLink::GrowBitmap(const std::string& path, uint64_t regions) {
  MutexLock l(&mu_);
  if (regions <= bitmap_->regions()) return absl::OkStatus();
  absl::StatusOr<std::unique_ptr<DirtyBitmap>> grown = DirtyBitmap::Open(path, regions);
  if (!grown.ok()) return grown.status();
  bitmap_ = *std::move(grown);
  return absl::OkStatus();
}

bool PeerLink::WaitForRoom(uint64_t session) {
  MutexLock l(&mu_);
  while (Live(session) && pipeline_bytes_ > QueueLimitLocked() / 2) changed_.Wait(&mu_);
  return Live(session);
}

bool PeerLink::SleepUntil(uint64_t session, Clock::time_point deadline) {
  MutexLock l(&mu_);
  while (Live(session) && Clock::now() < deadline) {
    changed_.WaitWithTimeout(&mu_, absl::FromChrono(deadline - Clock::now()));
  }
  return Live(session);
}

std::optional<std::string> PeerLink::TakeChecksumReply(uint64_t session) {
  MutexLock l(&mu_);
  while (Live(session) && !checksum_reply_) changed_.Wait(&mu_);
  if (!Live(session)) return std::nullopt;
  std::optional<std::string> out;
  out.swap(checksum_reply_);
  return out;
}

void PeerLink::SetResyncProgress(const ResyncProgress& p) {
  MutexLock l(&mu_);
  resync_ = p;
}

PeerLink::View PeerLink::GetView() const {
  MutexLock l(&mu_);
  return View{
      state_,  acked_seq_, unacked_.size() + queue_.size(), pipeline_bytes_, bitmap_->count(),
      resync_, message_,   LagLocked(clock_->Now())};
}

absl::StatusOr<PeerLink::Connection> PeerLink::Handshake(HelloReply* reply) {
  std::string payload = delegate_->HelloPayload(*this);
  WipeOnExit wipe_payload(payload);  // it may hold the volume's data key
  std::string address;
  {
    MutexLock l(&mu_);
    address = member_.replication_address;
  }
  absl::StatusOr<int> fd = dialer_->Dial(address, opts_.connect_timeout);
  if (!fd.ok()) return fd.status();
  Connection conn;
  conn.fd = *fd;
  {
    MutexLock l(&mu_);
    if (stopping_) {
      close(*fd);
      return absl::CancelledError("the link is stopping");
    }
    dialing_fd_ = *fd;
  }
  auto fail = [&](absl::Status s) {
    conn.stream.reset();
    {
      MutexLock l(&mu_);
      dialing_fd_ = -1;
    }
    close(conn.fd);
    return s;
  };
  SetSendTimeout(*fd, opts_.send_timeout);
  SetBufferSizes(*fd, 4 << 20);
  // A replica that hangs (rather than dies) must be noticed too.
  SetKeepAlive(*fd, opts_.send_timeout);
  // Bound the wait for the reply; cleared once the hello is done.
  timeval tv{static_cast<time_t>(opts_.connect_timeout.count() / 1000 + 5), 0};
  setsockopt(*fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  absl::StatusOr<std::unique_ptr<security::ByteStream>> stream = DialedStream(
      *fd, opts_.tls.get(), member_.node_id, opts_.connect_timeout + std::chrono::seconds(5));
  if (!stream.ok()) {
    return fail(absl::Status(stream.status().code(), absl::StrCat("replica at ", address, ": ",
                                                                  stream.status().message())));
  }
  conn.stream = *std::move(stream);
  FrameHeader h;
  h.type = FrameType::kHello;
  Frame answer;
  absl::Status s = WriteFrame(*conn.stream, h, payload);
  if (s.ok()) s = ReadFrame(*conn.stream, &answer);
  if (s.ok() && answer.header.type != FrameType::kHelloReply) {
    s = absl::InvalidArgumentError(
        absl::StrCat("unexpected ", FrameTypeName(answer.header.type), " frame"));
  }
  if (!s.ok()) {
    return fail(
        absl::UnavailableError(absl::StrCat("hello to ", address, " failed: ", s.message())));
  }
  absl::StatusOr<HelloReply> decoded = DecodeHelloReply(answer.payload);
  if (!decoded.ok()) return fail(decoded.status());
  *reply = *std::move(decoded);
  if (reply->status != WireStatus::kOk) {
    return fail(absl::FailedPreconditionError(
        absl::StrCat("replica at ", address, " refused: ", reply->message)));
  }
  timeval none{0, 0};
  setsockopt(*fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
  MutexLock l(&mu_);
  dialing_fd_ = -1;
  return conn;
}

void PeerLink::LinkLoop() {
  while (true) {
    {
      MutexLock l(&mu_);
      if (stopping_) return;
    }
    HelloReply reply;
    absl::StatusOr<Connection> conn = Handshake(&reply);
    if (conn.ok()) {
      const int fd = conn->fd;
      security::ByteStream* stream = conn->stream.get();
      delegate_->Connected(*this, reply, fd);
      uint64_t session = 0;
      {
        MutexLock l(&mu_);
        if (streaming_ && fd_ == fd) session = session_;
      }
      if (session != 0) {
        std::thread sender([this, session, stream] { SendLoop(session, stream); });
        ReceiveLoop(session, stream);
        sender.join();
        delegate_->Disconnected(*this, session);
        MutexLock l(&mu_);
        fd_ = -1;
      }
      stream->Close();
      conn->stream.reset();
      close(fd);
    } else {
      if (reply.status != WireStatus::kOk) delegate_->Refused(*this, reply);
      MutexLock l(&mu_);
      if (message_ != conn.status().message()) {
        spdlog::info("replica {}: {}", member_.node_id, conn.status().message());
        message_ = std::string(conn.status().message());
      }
    }
    MutexLock l(&mu_);
    auto until = Clock::now() + opts_.reconnect_interval;
    while (!stopping_ && Clock::now() < until) {
      changed_.WaitWithTimeout(&mu_, absl::FromChrono(until - Clock::now()));
    }
  }
}

void PeerLink::SendLoop(uint64_t session, security::ByteStream* stream) {
  std::vector<iovec> iov;
  std::vector<std::shared_ptr<OutgoingFrame>> batch;
  MutexLock l(&mu_);
  while (true) {
    while (Live(session) && (queue_.empty() || !queue_.front().frame->settled())) {
      changed_.Wait(&mu_);
    }
    if (!Live(session)) return;
    iov.clear();
    batch.clear();
    uint64_t bytes = 0;
    while (!queue_.empty() && queue_.front().frame->settled() && batch.size() < kBatchFrames &&
           bytes < kBatchBytes) {
      Queued q = std::move(queue_.front());
      queue_.pop_front();
      std::shared_ptr<OutgoingFrame> f = q.frame;
      if (f->state.load(std::memory_order_acquire) == OutgoingFrame::kCancelled) {
        pipeline_bytes_ -= q.bytes;
        continue;
      }
      if (unacked_.empty()) last_progress_ = clock_->Now();
      unacked_.push_back(std::move(q));
      iov.push_back({f->wire_header, kFrameHeaderSize});
      if (f->payload_size() > 0) {
        iov.push_back({const_cast<char*>(f->payload->data()), f->payload_size()});
      }
      bytes += kFrameHeaderSize + f->payload_size();
      batch.push_back(std::move(f));
    }
    if (iov.empty()) continue;
    mu_.Unlock();
    const bool sent = stream->Writev(iov.data(), static_cast<int>(iov.size()));
    const int err = errno;
    mu_.Lock();
    if (!sent) {
      if (Live(session)) {
        DropLocked(absl::StrCat("send: ", StreamError(*stream, "write", err).message()),
                   absl::OkStatus(), nullptr);
      }
      return;
    }
  }
}

void PeerLink::ReceiveLoop(uint64_t session, security::ByteStream* stream) {
  // Acks come in batches (the replica sends them together): one read, or
  // one TLS record, for many.
  FrameReader reader(*stream, 64 << 10);
  Frame ack;
  while (true) {
    absl::Status s = reader.Next(&ack);
    std::shared_ptr<OutgoingFrame> sent;
    {
      MutexLock l(&mu_);
      if (!Live(session)) return;
      if (s.ok() && unacked_.empty()) {
        s = absl::InvalidArgumentError(
            absl::StrCat("unexpected ", FrameTypeName(ack.header.type), " frame"));
      }
      if (s.ok() && ack.header.type != FrameType::kAck &&
          ack.header.type != FrameType::kChecksumReply) {
        s = absl::InvalidArgumentError(
            absl::StrCat("unexpected ", FrameTypeName(ack.header.type), " frame"));
      }
      if (!s.ok()) {
        DropLocked(absl::StrCat("connection lost: ", s.message()), absl::OkStatus(), nullptr);
        return;
      }
      sent = std::move(unacked_.front().frame);
      pipeline_bytes_ -= unacked_.front().bytes;
      unacked_.pop_front();
      acked_seq_ = ack.header.seq;
      last_progress_ = clock_->Now();
      if (ack.header.type == FrameType::kChecksumReply) {
        checksum_reply_ = std::move(ack.payload);
        changed_.SignalAll();
        continue;
      }
      if (pipeline_bytes_ <= QueueLimitLocked() / 2 || lag_waiters_ > 0) changed_.SignalAll();
    }
    delegate_->Acked(*this, session, *sent, ack);
  }
}

}  // namespace syncblock::repl
