#include "replication/nbd/nbd_connection.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "replication/security/tls_stream.h"
#include "spdlog/spdlog.h"

namespace syncblock::repl::nbd {
namespace {

void SetTimeout(int fd, int option, std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, option, &tv, sizeof(tv));
}

IoOp OpFor(uint16_t type) {
  switch (type) {
    case kCmdRead:
      return IoOp::kRead;
    case kCmdWrite:
      return IoOp::kWrite;
    case kCmdFlush:
      return IoOp::kFlush;
    case kCmdTrim:
      return IoOp::kTrim;
    default:
      return IoOp::kWriteZeroes;
  }
}

}  // namespace

Connection::Connection(int fd, std::string peer, ExportProvider* provider, ConnectionConfig config,
                       CountersFor counters_for)
    : peer_(std::move(peer)),
      config_(config),
      counters_for_(std::move(counters_for)),
      stream_(std::make_unique<security::PlainStream>(fd)),
      reader_(stream_.get()),
      handshake_(provider, config.handshake,
                 [this](const std::string& name) {
                   std::lock_guard<std::mutex> l(mu_);
                   export_name_ = name;
                 }),
      fd_(fd) {}

Connection::~Connection() {
  if (writer_.joinable()) writer_.join();
  if (fd_ >= 0) ::close(fd_);
}

std::string Connection::export_name() const {
  std::lock_guard<std::mutex> l(mu_);
  return export_name_;
}

int Connection::fd() const {
  std::lock_guard<std::mutex> l(mu_);
  return fd_;
}

void Connection::Shutdown() {
  std::lock_guard<std::mutex> l(mu_);
  shutting_down_ = true;
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
  slot_cv_.notify_all();
}

bool Connection::Start() {
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  SetTimeout(fd_, SO_SNDTIMEO, config_.send_timeout);
  if (WriteRaw(EncodeGreeting())) return true;
  Close();
  return false;
}

bool Connection::WaitReadable(std::chrono::milliseconds timeout) {
  pollfd p{fd_, POLLIN, 0};
  while (true) {
    int n = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (n >= 0) return n > 0;
    if (errno != EINTR) return true;  // the read that follows reports it
  }
}

Connection::Progress Connection::Serve() {
  while (phase_ != Phase::kTransmission) {
    // Between messages a quiet client costs no thread.
    if (!reader_.buffered() && !WaitReadable(std::chrono::milliseconds(0))) {
      reader_.ReleaseBuffer();
      return Progress::kParked;
    }
    // Within a message, the rest must follow promptly.
    SetTimeout(fd_, SO_RCVTIMEO, config_.handshake_timeout);
    switch (Negotiate()) {
      case Step::kContinue:
        break;
      case Step::kClose:
        return Close();
      case Step::kTransmission:
        // Idle clients are normal in transmission (a VM that does no IO).
        SetTimeout(fd_, SO_RCVTIMEO, std::chrono::milliseconds(0));
        counters_->ConnectionOpened();
        counted_open_ = true;
        phase_ = Phase::kTransmission;
        break;
    }
  }
  return Transmit();
}

Connection::Progress Connection::Close() {
  if (counted_open_) {
    counters_->ConnectionClosed();
    counted_open_ = false;
  }
  // TLS: close_notify first (best effort), as the spec asks of both ends.
  if (stream_ && stream_->peer() != nullptr) stream_->Close();
  std::lock_guard<std::mutex> l(mu_);
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  return Progress::kClosed;
}

bool Connection::WriteRaw(const std::string& bytes) {
  return stream_->Write(bytes.data(), bytes.size());
}

bool Connection::UpgradeToTls() {
  // The client must wait for our ACK before it starts TLS: bytes already
  // here came before the handshake, unauthenticated, and would be taken as
  // if they came over TLS (the STARTTLS injection attack). Refuse them.
  if (reader_.buffered()) {
    spdlog::warn("nbd {}: closing: data sent after NBD_OPT_STARTTLS before the TLS handshake",
                 peer_);
    return false;
  }
  auto tls = security::TlsStream::Accept(fd_, *config_.tls, config_.handshake_timeout);
  if (!tls.ok()) {
    spdlog::warn("nbd {}: TLS handshake failed: {}", peer_, std::string(tls.status().message()));
    return false;
  }
  handshake_.OnTlsEstablished(*(*tls)->peer());
  spdlog::debug("nbd {}: TLS as {}", peer_, (*tls)->peer()->ToString());
  reader_.Reset(tls->get());
  stream_ = *std::move(tls);
  return true;
}

Connection::Step Connection::Negotiate() {
  char buf[kOptionHeaderSize];
  if (phase_ == Phase::kClientFlags) {
    if (!reader_.ReadExact(buf, kClientFlagsSize)) return Step::kClose;
    Handshake::Outcome outcome = handshake_.OnClientFlags(LoadU32(buf));
    if (outcome.next == Handshake::Next::kClose) {
      spdlog::warn("nbd {}: closing during handshake: {}", peer_, outcome.reason);
      return Step::kClose;
    }
    phase_ = Phase::kOptions;
    return Step::kContinue;
  }
  if (!reader_.ReadExact(buf, kOptionHeaderSize)) {
    if (errno != 0) spdlog::debug("nbd {}: handshake read: {}", peer_, std::strerror(errno));
    return Step::kClose;
  }
  absl::StatusOr<OptionHeader> header = ParseOptionHeader({buf, kOptionHeaderSize});
  if (!header.ok()) {
    spdlog::warn("nbd {}: closing during handshake: {}", peer_,
                 std::string(header.status().message()));
    return Step::kClose;
  }
  Handshake::Outcome outcome;
  switch (handshake_.PolicyFor(*header)) {
    case Handshake::DataPolicy::kClose:
      spdlog::warn("nbd {}: closing: option {} with {} bytes of data", peer_, header->option,
                   header->length);
      return Step::kClose;
    case Handshake::DataPolicy::kDiscardThenTooBig:
      if (!reader_.Discard(header->length)) return Step::kClose;
      outcome = handshake_.OnTooBig(*header);
      break;
    case Handshake::DataPolicy::kRead: {
      std::string data(header->length, '\0');
      if (!reader_.ReadExact(data.data(), data.size())) return Step::kClose;
      outcome = handshake_.OnOption(*header, data);
      break;
    }
  }
  if (!outcome.reply.empty() && !WriteRaw(outcome.reply)) return Step::kClose;
  if (!outcome.refused.empty()) spdlog::warn("nbd {}: {}", peer_, outcome.refused);
  if (outcome.next == Handshake::Next::kStartTls) {
    return UpgradeToTls() ? Step::kContinue : Step::kClose;
  }
  if (outcome.next == Handshake::Next::kClose) {
    if (header->option == kOptAbort) {
      spdlog::debug("nbd {}: client aborted the handshake", peer_);
    } else if (!config_.handshake.refusal.empty()) {
      spdlog::info("nbd {}: refused: {}", peer_, outcome.reason);
    } else if (!outcome.refused.empty()) {
      // Logged above.
    } else {
      spdlog::warn("nbd {}: closing during handshake: {}", peer_, outcome.reason);
    }
    return Step::kClose;
  }
  if (outcome.next == Handshake::Next::kContinue) return Step::kContinue;
  device_ = handshake_.TakeDevice();
  limits_.size = device_->Size();
  limits_.read_only = device_->ReadOnly();
  limits_.max_block = config_.handshake.block_sizes.maximum;
  counters_ = counters_for_(handshake_.export_name());
  std::lock_guard<std::mutex> l(mu_);
  export_name_ = handshake_.export_name();
  // CloseExport() may have run between the provider's answer and now.
  return shutting_down_ ? Step::kClose : Step::kTransmission;
}

bool Connection::AcquireSlot(size_t bytes) {
  std::unique_lock<std::mutex> l(mu_);
  slot_cv_.wait(l, [&] {
    return shutting_down_ || broken_ ||
           (inflight_ < config_.max_inflight_requests &&
            (inflight_ == 0 || inflight_bytes_ + bytes <= config_.max_inflight_bytes));
  });
  if (shutting_down_ || broken_) return false;
  ++inflight_;
  inflight_bytes_ += bytes;
  return true;
}

void Connection::ReleaseSlotLocked(size_t bytes) {
  --inflight_;
  inflight_bytes_ -= bytes;
  slot_cv_.notify_all();
}

void Connection::BreakLocked() {
  if (broken_) return;
  broken_ = true;
  // Wakes the reader: a connection that cannot send replies is over.
  ::shutdown(fd_, SHUT_RDWR);
  slot_cv_.notify_all();
}

bool Connection::IdleLocked() const { return inflight_ == 0 && queue_.empty(); }

void Connection::StartWriter() {
  {
    std::lock_guard<std::mutex> l(mu_);
    writer_stop_ = false;
  }
  writer_ = std::thread([this] { WriterLoop(); });
}

void Connection::StopWriter() {
  {
    std::lock_guard<std::mutex> l(mu_);
    writer_stop_ = true;
  }
  writer_cv_.notify_all();
  writer_.join();
}

Connection::Progress Connection::Transmit() {
  // A connection that has just finished its handshake, or was woken by
  // something that is not a request, parks at once; one that served a
  // request waits `park_after` for the next (no thread churn under IO).
  bool served = false;
  char buf[kRequestHeaderSize];
  while (true) {
    if (!reader_.buffered() &&
        !WaitReadable(served ? config_.park_after : std::chrono::milliseconds(0))) {
      std::unique_lock<std::mutex> l(mu_);
      if (!IdleLocked()) {
        served = true;  // replies still to come: stay, without spinning
        continue;
      }
      l.unlock();
      // Nothing in flight and nothing to send: the threads go back.
      if (writer_.joinable()) StopWriter();
      reader_.ReleaseBuffer();
      return Progress::kParked;
    }
    if (!reader_.ReadExact(buf, kRequestHeaderSize)) {
      if (errno != 0) spdlog::debug("nbd {}: read: {}", peer_, std::strerror(errno));
      break;
    }
    served = true;
    if (!writer_.joinable()) StartWriter();
    absl::StatusOr<RequestHeader> parsed = ParseRequestHeader({buf, kRequestHeaderSize});
    if (!parsed.ok()) {
      spdlog::warn("nbd {}: closing: {}", peer_, std::string(parsed.status().message()));
      break;
    }
    const RequestHeader& r = *parsed;
    if (r.type == kCmdDisc) break;
    if (uint32_t error = CheckRequest(r, limits_); error != 0) {
      if (r.type == kCmdWrite) {
        // The payload follows whatever we think of the header: consume it to
        // stay in step with the client, unless it is absurdly large.
        if (r.length > config_.max_write_discard) {
          spdlog::warn("nbd {}: closing: WRITE of {} bytes", peer_, r.length);
          break;
        }
        if (!reader_.Discard(r.length)) break;
      }
      spdlog::debug("nbd {}: {} offset {} length {} flags {:#x}: error {}", peer_,
                    CommandName(r.type), r.offset, r.length, r.flags, error);
      counters_->Error();
      if (!AcquireSlot(0)) break;
      SendError(r.handle, error);
      continue;
    }
    size_t bytes = (r.type == kCmdRead || r.type == kCmdWrite) ? r.length : 0;
    if (!AcquireSlot(bytes)) break;
    auto io = std::make_shared<IoRequest>();
    io->op = OpFor(r.type);
    io->offset = r.offset;
    io->length = r.length;
    io->fua = (r.flags & kCmdFlagFua) != 0;
    io->no_hole = (r.flags & kCmdFlagNoHole) != 0;
    if (r.type == kCmdWrite) {
      io->data.resize(r.length);
      if (!reader_.ReadExact(io->data.data(), r.length)) {
        std::lock_guard<std::mutex> l(mu_);
        ReleaseSlotLocked(bytes);
        break;
      }
    }
    if (r.length == 0 && r.type != kCmdFlush) {
      // Nothing to read, write or discard; the spec leaves the reply to us.
      // (Send releases the slot taken above.)
      SendError(r.handle, 0);
      continue;
    }
    auto start = std::chrono::steady_clock::now();
    io->done = [self = shared_from_this(), handle = r.handle, start, bytes](IoRequest& done) {
      self->Complete(done, handle, start, bytes);
    };
    device_->Submit(std::move(io));
  }
  // NBD_CMD_DISC or not, every request already submitted is answered before
  // the socket closes.
  {
    std::unique_lock<std::mutex> l(mu_);
    slot_cv_.wait(l, [&] { return inflight_ == 0; });
  }
  if (writer_.joinable()) StopWriter();
  // Completion callbacks may keep this object alive a little longer, on the
  // device's own threads: they must not hold the last reference to the
  // device (its destructor would then run on, and join, its own thread).
  device_.reset();
  return Close();
}

void Connection::Complete(IoRequest& io, uint64_t handle,
                          std::chrono::steady_clock::time_point start, size_t slot_bytes) {
  uint32_t error = ErrorFromStatus(io.status);
  if (error == 0 && io.op == IoOp::kRead && io.data.size() != io.length) {
    // A short read cannot be sent as a simple reply: fail it rather than
    // desynchronise the stream.
    spdlog::error("nbd {}: device returned {} bytes for a READ of {}", peer_, io.data.size(),
                  io.length);
    error = kEio;
  }
  if (error != 0) {
    spdlog::debug("nbd {}: request at {} length {} failed: {}", peer_, io.offset, io.length,
                  io.status.ToString());
    counters_->Error();
  } else {
    switch (io.op) {
      case IoOp::kRead:
        counters_->Read(io.length);
        break;
      case IoOp::kWrite: {
        auto us = std::chrono::duration_cast<std::chrono::microseconds>(
            std::chrono::steady_clock::now() - start);
        counters_->Write(io.length, static_cast<uint64_t>(us.count()));
        break;
      }
      case IoOp::kFlush:
        counters_->Flush();
        break;
      case IoOp::kTrim:
        counters_->Trim();
        break;
      case IoOp::kWriteZeroes:
        counters_->WriteZeroes();
        break;
    }
  }
  Reply reply;
  EncodeSimpleReply(error, handle, reply.header);
  if (error == 0 && io.op == IoOp::kRead) reply.data = std::move(io.data);
  Send(std::move(reply), slot_bytes);
}

void Connection::SendError(uint64_t handle, uint32_t error) {
  Reply reply;
  EncodeSimpleReply(error, handle, reply.header);
  Send(std::move(reply), 0);
}

void Connection::Send(Reply reply, size_t slot_bytes) {
  std::lock_guard<std::mutex> l(mu_);
  if (broken_) {
    ReleaseSlotLocked(slot_bytes);
    return;
  }
  if (queue_.empty()) {
    // Fast path: nothing queued ahead of us, so the reply can go out now
    // from this thread if the socket takes it without blocking.
    iovec iov[2] = {{reply.header, kSimpleReplySize}, {reply.data.data(), reply.data.size()}};
    long sent = stream_->WritevSome(iov, reply.data.empty() ? 1 : 2);
    if (sent < 0) {
      BreakLocked();
      ReleaseSlotLocked(slot_bytes);
      return;
    }
    reply.sent = static_cast<size_t>(sent);
    if (reply.sent == reply.size() && !stream_->HasPendingOutput()) {
      ReleaseSlotLocked(slot_bytes);
      return;
    }
    // The rest, or only the part the stream holds back (TLS records waiting
    // in its write buffer for a full socket), goes from the writer thread.
  }
  queue_.push_back(Queued{std::move(reply), slot_bytes});
  writer_cv_.notify_one();
}

void Connection::WriterLoop() {
  std::unique_lock<std::mutex> l(mu_);
  while (true) {
    writer_cv_.wait(l, [&] { return !queue_.empty() || writer_stop_; });
    if (queue_.empty()) return;
    // The front stays queued while it is sent, so Send() never overtakes it.
    Queued& front = queue_.front();
    bool ok = !broken_;
    if (ok) {
      Reply& r = front.reply;
      iovec iov[2] = {{r.header, kSimpleReplySize}, {r.data.data(), r.data.size()}};
      int first = AdvanceIov(iov, 2, r.sent);
      l.unlock();
      ok = stream_->Writev(iov + first, 2 - first);
      int send_errno = errno;
      l.lock();
      if (!ok && !broken_) {
        spdlog::debug("nbd {}: send failed: {}", peer_, std::strerror(send_errno));
      }
    }
    size_t bytes = front.slot_bytes;
    queue_.pop_front();
    if (!ok) BreakLocked();
    ReleaseSlotLocked(bytes);
  }
}

}  // namespace syncblock::repl::nbd
