#include "replication/nbd/nbd_connection.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

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
      provider_(provider),
      config_(config),
      counters_for_(std::move(counters_for)),
      fd_(fd) {}

Connection::~Connection() {
  if (writer_.joinable()) writer_.join();
  if (fd_ >= 0) ::close(fd_);
}

std::string Connection::export_name() const {
  std::lock_guard<std::mutex> l(mu_);
  return export_name_;
}

void Connection::Shutdown() {
  std::lock_guard<std::mutex> l(mu_);
  shutting_down_ = true;
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
  slot_cv_.notify_all();
}

void Connection::Run() {
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  SetTimeout(fd_, SO_RCVTIMEO, config_.handshake_timeout);
  SetTimeout(fd_, SO_SNDTIMEO, config_.send_timeout);
  SocketReader reader(fd_);
  if (Negotiate(reader)) {
    // Idle clients are normal in transmission (a VM that does no IO).
    SetTimeout(fd_, SO_RCVTIMEO, std::chrono::milliseconds(0));
    counters_->ConnectionOpened();
    Transmit(reader);
    counters_->ConnectionClosed();
  }
  std::lock_guard<std::mutex> l(mu_);
  ::close(fd_);
  fd_ = -1;
}

bool Connection::WriteRaw(const std::string& bytes) {
  iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
  return SendAll(fd_, &iov, 1);
}

bool Connection::Negotiate(SocketReader& reader) {
  Handshake handshake(provider_, config_.handshake, [this](const std::string& name) {
    std::lock_guard<std::mutex> l(mu_);
    export_name_ = name;
  });
  if (!WriteRaw(EncodeGreeting())) return false;
  char buf[kOptionHeaderSize];
  if (!reader.ReadExact(buf, kClientFlagsSize)) return false;
  Handshake::Outcome outcome = handshake.OnClientFlags(LoadU32(buf));
  if (outcome.next == Handshake::Next::kClose) {
    spdlog::warn("nbd {}: closing during handshake: {}", peer_, outcome.reason);
    return false;
  }
  std::string data;
  while (true) {
    if (!reader.ReadExact(buf, kOptionHeaderSize)) {
      if (errno != 0) spdlog::debug("nbd {}: handshake read: {}", peer_, std::strerror(errno));
      return false;
    }
    absl::StatusOr<OptionHeader> header = ParseOptionHeader({buf, kOptionHeaderSize});
    if (!header.ok()) {
      spdlog::warn("nbd {}: closing during handshake: {}", peer_,
                   std::string(header.status().message()));
      return false;
    }
    switch (handshake.PolicyFor(*header)) {
      case Handshake::DataPolicy::kClose:
        spdlog::warn("nbd {}: closing: option {} with {} bytes of data", peer_, header->option,
                     header->length);
        return false;
      case Handshake::DataPolicy::kDiscardThenTooBig:
        if (!reader.Discard(header->length)) return false;
        outcome = handshake.OnTooBig(*header);
        break;
      case Handshake::DataPolicy::kRead:
        data.resize(header->length);
        if (!reader.ReadExact(data.data(), data.size())) return false;
        outcome = handshake.OnOption(*header, data);
        break;
    }
    if (!outcome.reply.empty() && !WriteRaw(outcome.reply)) return false;
    if (outcome.next == Handshake::Next::kClose) {
      if (header->option == kOptAbort) {
        spdlog::debug("nbd {}: client aborted the handshake", peer_);
      } else {
        spdlog::warn("nbd {}: closing during handshake: {}", peer_, outcome.reason);
      }
      return false;
    }
    if (outcome.next == Handshake::Next::kTransmission) break;
  }
  device_ = handshake.device();
  limits_.size = device_->Size();
  limits_.read_only = device_->ReadOnly();
  limits_.max_block = config_.handshake.block_sizes.maximum;
  counters_ = counters_for_(handshake.export_name());
  std::lock_guard<std::mutex> l(mu_);
  export_name_ = handshake.export_name();
  // CloseExport() may have run between the provider's answer and now.
  return !shutting_down_;
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

void Connection::Transmit(SocketReader& reader) {
  writer_ = std::thread([this] { WriterLoop(); });
  char buf[kRequestHeaderSize];
  while (true) {
    if (!reader.ReadExact(buf, kRequestHeaderSize)) {
      if (errno != 0) spdlog::debug("nbd {}: read: {}", peer_, std::strerror(errno));
      break;
    }
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
        if (!reader.Discard(r.length)) break;
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
      if (!reader.ReadExact(io->data.data(), r.length)) {
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
    writer_stop_ = true;
  }
  writer_cv_.notify_all();
  writer_.join();
  // Completion callbacks may keep this object alive a little longer, on the
  // device's own threads: they must not hold the last reference to the
  // device (its destructor would then run on, and join, its own thread).
  device_.reset();
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
    long sent = SendSome(fd_, iov, reply.data.empty() ? 1 : 2);
    if (sent < 0) {
      BreakLocked();
      ReleaseSlotLocked(slot_bytes);
      return;
    }
    if (static_cast<size_t>(sent) == reply.size()) {
      ReleaseSlotLocked(slot_bytes);
      return;
    }
    reply.sent = static_cast<size_t>(sent);
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
      int fd = fd_;
      l.unlock();
      ok = SendAll(fd, iov + first, 2 - first);
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
