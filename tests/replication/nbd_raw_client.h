// Test-only NBD client over a raw TCP socket, for driving the server with
// exact bytes: well-formed handshakes and requests, and the malformed ones
// real clients never send. Every receive has a timeout so a test fails
// instead of hanging. Not thread-safe; one per test connection.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "replication/nbd/nbd_protocol.h"
#include "replication/security/tls_context.h"
#include "replication/security/tls_stream.h"

namespace syncblock::repl::nbdtest {

class RawNbdClient {
 public:
  struct OptionReply {
    uint32_t option = 0;
    uint32_t type = 0;
    std::string data;
  };
  struct SimpleReply {
    uint32_t error = 0;
    uint64_t handle = 0;
  };

  explicit RawNbdClient(int port, int timeout_ms = 10000) : timeout_ms_(timeout_ms) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  ~RawNbdClient() {
    tls_.reset();
    if (fd_ >= 0) ::close(fd_);
  }
  RawNbdClient(const RawNbdClient&) = delete;
  RawNbdClient& operator=(const RawNbdClient&) = delete;

  bool connected() const { return connected_; }
  void Close() {
    tls_.reset();
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  // After an acknowledged NBD_OPT_STARTTLS: the client side of the TLS
  // handshake; Send/Recv go over TLS from then on.
  absl::Status StartTls(security::TlsContext& context) {
    timeval tv{timeout_ms_ / 1000, (timeout_ms_ % 1000) * 1000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    auto tls = security::TlsStream::Connect(fd_, context, std::chrono::milliseconds(timeout_ms_));
    if (!tls.ok()) return tls.status();
    tls_ = *std::move(tls);
    return absl::OkStatus();
  }
  bool tls() const { return tls_ != nullptr; }

  bool Send(const std::string& bytes) {
    if (tls_) return tls_->Write(bytes.data(), bytes.size());
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        return false;
      }
      done += static_cast<size_t>(n);
    }
    return true;
  }

  // Exactly n bytes, or nullopt on EOF, error or timeout.
  std::optional<std::string> Recv(size_t n) {
    std::string out(n, '\0');
    if (tls_) {
      if (!tls_->ReadFull(out.data(), n)) return std::nullopt;
      return out;
    }
    size_t done = 0;
    while (done < n) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, timeout_ms_) <= 0) return std::nullopt;
      ssize_t got = ::recv(fd_, out.data() + done, n - done, 0);
      if (got <= 0) {
        if (got < 0 && errno == EINTR) continue;
        return std::nullopt;
      }
      done += static_cast<size_t>(got);
    }
    return out;
  }

  // True when the server closed the connection (EOF or reset) within the
  // timeout, after discarding anything it still sent.
  bool WaitClosed() {
    char buf[4096];
    if (tls_) {
      while (true) {
        ssize_t got = tls_->Read(buf, sizeof(buf));
        if (got == 0) return true;
        if (got < 0) return errno != EAGAIN && errno != ETIMEDOUT;
      }
    }
    while (true) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, timeout_ms_) <= 0) return false;
      ssize_t got = ::recv(fd_, buf, sizeof(buf), 0);
      if (got == 0) return true;
      if (got < 0) return errno != EINTR && errno != EAGAIN;
    }
  }

  // Reads the greeting and sends client flags. False if the greeting is wrong.
  bool Greet(uint32_t client_flags = nbd::kClientFlagFixedNewstyle | nbd::kClientFlagNoZeroes) {
    auto greeting = Recv(nbd::kGreetingSize);
    if (!greeting || *greeting != nbd::EncodeGreeting()) return false;
    std::string flags;
    nbd::PutU32(flags, client_flags);
    return Send(flags);
  }

  // Greets, asks for NBD_OPT_STARTTLS and, once acknowledged, does the TLS
  // handshake with `files`' certificate: an error says which step failed.
  absl::Status GreetWithTls(const security::TlsFiles& files) {
    if (!Greet()) return absl::UnavailableError("no NBD greeting");
    if (!Send(Option(nbd::kOptStartTls, ""))) return absl::UnavailableError("cannot send STARTTLS");
    auto ack = ReadOptionReply();
    if (!ack || ack->type != nbd::kRepAck)
      return absl::UnavailableError("STARTTLS not acknowledged");
    auto context = security::TlsContext::Load(files);
    if (!context.ok()) return context.status();
    return StartTls(**context);
  }

  static std::string Option(uint32_t option, const std::string& data) {
    return nbd::EncodeOption(option, data);
  }
  static std::string InfoData(const std::string& name, std::initializer_list<uint16_t> infos) {
    return nbd::EncodeInfoRequest(name, infos);
  }

  std::optional<OptionReply> ReadOptionReply() {
    auto bytes = Recv(nbd::kOptionReplyHeaderSize);
    if (!bytes) return std::nullopt;
    auto header = nbd::ParseOptionReplyHeader(*bytes);
    if (!header.ok()) return std::nullopt;
    OptionReply reply;
    reply.option = header->option;
    reply.type = header->type;
    auto data = Recv(header->length);
    if (!data) return std::nullopt;
    reply.data = std::move(*data);
    return reply;
  }

  // Greets, sends NBD_OPT_GO for `name` and reads replies up to the ACK.
  // On success fills size and transmission flags.
  bool Go(const std::string& name) {
    if (!tls_ && !Greet()) return false;
    if (!Send(Option(nbd::kOptGo, InfoData(name, {})))) return false;
    while (true) {
      auto reply = ReadOptionReply();
      if (!reply) return false;
      if (reply->type == nbd::kRepAck) return true;
      if (reply->type != nbd::kRepInfo) return false;
      auto info = nbd::ParseInfoReply(reply->data);
      if (info.ok() && info->type == nbd::kInfoExport) {
        size = info->size;
        flags = info->transmission_flags;
      }
    }
  }

  static std::string Request(uint16_t type, uint64_t handle, uint64_t offset, uint32_t length,
                             uint16_t flags = 0) {
    nbd::RequestHeader header;
    header.flags = flags;
    header.type = type;
    header.handle = handle;
    header.offset = offset;
    header.length = length;
    return nbd::EncodeRequestHeader(header);
  }

  std::optional<SimpleReply> ReadReply() {
    auto bytes = Recv(nbd::kSimpleReplySize);
    if (!bytes) return std::nullopt;
    auto reply = nbd::ParseSimpleReply(*bytes);
    if (!reply.ok()) return std::nullopt;
    return SimpleReply{reply->error, reply->handle};
  }

  // WRITE then READ back through the connection; true if the data matches.
  bool WriteReadBack(uint64_t offset, const std::string& data, uint64_t handle = 1) {
    if (!Send(Request(nbd::kCmdWrite, handle, offset, static_cast<uint32_t>(data.size())) + data)) {
      return false;
    }
    auto w = ReadReply();
    if (!w || w->error != 0 || w->handle != handle) return false;
    if (!Send(Request(nbd::kCmdRead, handle + 1, offset, static_cast<uint32_t>(data.size())))) {
      return false;
    }
    auto r = ReadReply();
    if (!r || r->error != 0 || r->handle != handle + 1) return false;
    auto back = Recv(data.size());
    return back && *back == data;
  }

  uint64_t size = 0;
  uint16_t flags = 0;

 private:
  int fd_ = -1;
  std::unique_ptr<security::ByteStream> tls_;
  bool connected_ = false;
  int timeout_ms_;
};

}  // namespace syncblock::repl::nbdtest
