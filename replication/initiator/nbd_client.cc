#include "replication/initiator/nbd_client.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "replication/initiator/nbd_tls.h"
#include "replication/initiator/tls_proxy.h"
#include "replication/security/tls_stream.h"
#include "replication/util/status_macros.h"

namespace syncblock::repl::initiator {
namespace {

absl::Status WriteAll(security::ByteStream& stream, const std::string& data,
                      const std::string& peer) {
  if (!stream.Write(data.data(), data.size())) {
    return absl::UnavailableError(
        absl::StrCat("NBD handshake with ", peer, ": send: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadExactly(security::ByteStream& stream, size_t len,
                                        const std::string& peer) {
  std::string buf(len, '\0');
  if (!stream.ReadFull(buf.data(), len)) {
    if (errno == 0) {
      return absl::UnavailableError(
          absl::StrCat("NBD handshake with ", peer, ": server closed the connection"));
    }
    return absl::UnavailableError(
        absl::StrCat("NBD handshake with ", peer, ": recv: ", std::strerror(errno)));
  }
  return buf;
}

absl::StatusOr<int> Dial(const NbdUri& uri, std::chrono::milliseconds timeout) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string port = std::to_string(uri.port);
  int rc = getaddrinfo(uri.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) {
    return absl::UnavailableError(absl::StrCat("resolve ", uri.host, ": ", gai_strerror(rc)));
  }
  std::string last_error = "no address";
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) continue;
    int r = connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (r != 0 && errno == EINPROGRESS) {
      pollfd pfd{fd, POLLOUT, 0};
      int n;
      do {
        n = poll(&pfd, 1, static_cast<int>(timeout.count()));
      } while (n < 0 && errno == EINTR);
      int err = ETIMEDOUT;
      socklen_t len = sizeof(err);
      if (n == 1) getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      r = err == 0 ? 0 : -1;
      errno = err;
    }
    if (r == 0) {
      // Blocking from here: the kernel driver expects a blocking socket.
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      int fl = fcntl(fd, F_GETFL);
      fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
      freeaddrinfo(res);
      return fd;
    }
    last_error = std::strerror(errno);
    close(fd);
  }
  freeaddrinfo(res);
  return absl::UnavailableError(
      absl::StrCat("connect to ", uri.host, ":", uri.port, ": ", last_error));
}

void SetTimeouts(int fd, std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = timeout.count() / 1000;
  tv.tv_usec = (timeout.count() % 1000) * 1000;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

// NBD_OPT_STARTTLS, then the TLS handshake; the stream to go on with. Any
// answer but ACK ends the attempt: with a certificate to present we never
// fall back to plaintext (the spec's downgrade attack).
absl::StatusOr<std::unique_ptr<security::ByteStream>> StartTls(security::ByteStream& plain, int fd,
                                                               const std::string& peer,
                                                               std::chrono::milliseconds timeout) {
  ASSIGN_OR_RETURN(std::shared_ptr<security::TlsContext> ctx, NbdClientTlsContext());
  RETURN_IF_ERROR(WriteAll(plain, nbd::EncodeOption(nbd::kOptStartTls, ""), peer));
  ASSIGN_OR_RETURN(std::string head, ReadExactly(plain, nbd::kOptionReplyHeaderSize, peer));
  auto reply = nbd::ParseOptionReplyHeader(head);
  if (!reply.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(peer, ": ", reply.status().message()));
  }
  if (reply->option != nbd::kOptStartTls || reply->length > 64 * 1024) {
    return absl::InvalidArgumentError(absl::StrCat(peer, ": bad reply to NBD_OPT_STARTTLS"));
  }
  ASSIGN_OR_RETURN(std::string data, ReadExactly(plain, reply->length, peer));
  if (reply->type != nbd::kRepAck) {
    return absl::UnavailableError(absl::StrCat(
        peer, " does not do TLS (NBD_OPT_STARTTLS answered ", reply->type & ~nbd::kRepErrBit,
        data.empty() ? "" : ": ", data, "); this client requires it"));
  }
  auto tls = security::TlsStream::Connect(fd, *ctx, timeout);
  if (!tls.ok()) {
    return absl::Status(tls.status().code(),
                        absl::StrCat("NBD TLS with ", peer, ": ", tls.status().message()));
  }
  // Only a storage node serves volumes: a node or admin certificate (from
  // the same CA) on the other end is someone posing as one.
  if ((*tls)->peer()->role != security::kRoleStorage) {
    return absl::UnauthenticatedError(absl::StrCat("NBD TLS with ", peer, ": the server is ",
                                                   (*tls)->peer()->ToString(),
                                                   ", not a storage node"));
  }
  return std::unique_ptr<security::ByteStream>(*std::move(tls));
}

// The handshake up to the transmission phase. With TLS, `*stream` is
// replaced by the TLS session.
absl::StatusOr<NbdExportInfo> Handshake(std::unique_ptr<security::ByteStream>* stream, int fd,
                                        const NbdUri& uri, std::chrono::milliseconds timeout) {
  const std::string peer = uri.ToString();
  ASSIGN_OR_RETURN(std::string hello, ReadExactly(**stream, nbd::kGreetingSize, peer));
  if (nbd::LoadU64(hello.data()) != nbd::kNbdMagic ||
      nbd::LoadU64(hello.data() + 8) != nbd::kOptMagic) {
    return absl::InvalidArgumentError(
        absl::StrCat(peer, " is not a fixed-newstyle NBD server (bad greeting)"));
  }
  const uint16_t server_flags = nbd::LoadU16(hello.data() + 16);
  if (!(server_flags & nbd::kFlagFixedNewstyle)) {
    return absl::InvalidArgumentError(absl::StrCat(peer, " does not speak fixed newstyle NBD"));
  }
  std::string out;
  nbd::PutU32(out, nbd::kClientFlagFixedNewstyle |
                       (server_flags & nbd::kFlagNoZeroes ? nbd::kClientFlagNoZeroes : 0));
  if (NbdClientTlsEnabled()) {
    RETURN_IF_ERROR(WriteAll(**stream, out, peer));
    out.clear();
    ASSIGN_OR_RETURN(*stream, StartTls(**stream, fd, peer, timeout));
  } else if (uri.tls) {
    return absl::FailedPreconditionError(
        absl::StrCat(uri.ToString(), " requires TLS and this process has no certificate"));
  }
  security::ByteStream& io = **stream;
  // NBD_OPT_GO: export name, then the one extra info we want (block sizes).
  const std::string& name = uri.export_name;
  out += nbd::EncodeOption(nbd::kOptGo, nbd::EncodeInfoRequest(name, {nbd::kInfoBlockSize}));
  RETURN_IF_ERROR(WriteAll(io, out, peer));

  NbdExportInfo info;
  bool have_export = false;
  for (int replies = 0; replies < 64; ++replies) {
    ASSIGN_OR_RETURN(std::string head, ReadExactly(io, nbd::kOptionReplyHeaderSize, peer));
    auto reply = nbd::ParseOptionReplyHeader(head);
    if (!reply.ok())
      return absl::InvalidArgumentError(absl::StrCat(peer, ": ", reply.status().message()));
    if (reply->option != nbd::kOptGo) {
      return absl::InvalidArgumentError(
          absl::StrCat(peer, ": reply to option ", reply->option, " when NBD_OPT_GO was asked"));
    }
    if (reply->length > 64 * 1024) {
      return absl::InvalidArgumentError(
          absl::StrCat(peer, ": option reply of ", reply->length, " bytes"));
    }
    ASSIGN_OR_RETURN(std::string data, ReadExactly(io, reply->length, peer));
    const uint32_t type = reply->type;
    if (type & nbd::kRepErrBit) {
      std::string why = data.empty() ? "" : absl::StrCat(": ", data);
      if (type == nbd::kRepErrUnknown) {
        return absl::NotFoundError(
            absl::StrCat(peer, " does not serve export \"", name, "\"", why));
      }
      if (type == nbd::kRepErrUnsup) {
        return absl::UnimplementedError(absl::StrCat(peer, " does not support NBD_OPT_GO", why));
      }
      if (type == nbd::kRepErrPolicy) {
        return absl::PermissionDeniedError(
            absl::StrCat(peer, " refused export \"", name, "\" by policy", why));
      }
      if (type == nbd::kRepErrTlsReqd) {
        return absl::FailedPreconditionError(
            absl::StrCat(peer, " requires TLS and this process has no certificate", why));
      }
      return absl::UnavailableError(absl::StrCat(peer, " refused export \"", name, "\" (error ",
                                                 type & ~nbd::kRepErrBit, ")", why));
    }
    if (type == nbd::kRepAck) {
      if (!have_export) {
        return absl::InvalidArgumentError(
            absl::StrCat(peer, ": NBD_OPT_GO acknowledged without size"));
      }
      return info;
    }
    // Other informational replies, and short ones, are allowed and ignored.
    auto payload = type == nbd::kRepInfo ? nbd::ParseInfoReply(data)
                                         : absl::StatusOr<nbd::InfoReply>(nbd::InfoReply{});
    if (!payload.ok() || type != nbd::kRepInfo) continue;
    if (payload->type == nbd::kInfoExport) {
      info.size = payload->size;
      info.transmission_flags = payload->transmission_flags;
      have_export = true;
    } else if (payload->type == nbd::kInfoBlockSize) {
      info.min_block = payload->block_sizes.minimum;
      info.preferred_block = payload->block_sizes.preferred;
      info.max_block = payload->block_sizes.maximum;
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(peer, ": too many option replies"));
}

}  // namespace

std::string NbdUri::ToString() const {
  std::string h = host.find(':') != std::string::npos ? absl::StrCat("[", host, "]") : host;
  return absl::StrCat(tls ? "nbds://" : "nbd://", h, ":", port, "/", export_name);
}

absl::StatusOr<NbdUri> ParseNbdUri(std::string_view uri) {
  NbdUri out;
  std::string_view rest;
  if (uri.substr(0, 6) == "nbd://") {
    rest = uri.substr(6);
  } else if (uri.substr(0, 7) == "nbds://") {
    rest = uri.substr(7);
    out.tls = true;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("not an nbd:// or nbds:// URI: \"", std::string(uri), "\""));
  }
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) out.export_name = std::string(rest.substr(slash + 1));
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("bad host in \"", std::string(uri), "\""));
    }
    out.host = std::string(authority.substr(1, close - 1));
    if (close + 1 < authority.size() && authority[close + 1] == ':') {
      port_text = authority.substr(close + 2);
    }
  } else {
    size_t colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (out.host.empty())
    return absl::InvalidArgumentError(absl::StrCat("no host in \"", std::string(uri), "\""));
  if (!port_text.empty()) {
    int port = 0;
    if (!absl::SimpleAtoi(std::string(port_text), &port) || port <= 0 || port > 65535) {
      return absl::InvalidArgumentError(absl::StrCat("bad port in \"", std::string(uri), "\""));
    }
    out.port = port;
  }
  return out;
}

NbdConnection::NbdConnection(int fd, NbdExportInfo info, std::unique_ptr<security::ByteStream> tls)
    : fd_(fd), info_(info), tls_(std::move(tls)) {}

void NbdConnection::Reset() {
  tls_.reset();
  if (fd_ >= 0) close(fd_);
  if (kernel_fd_ >= 0) close(kernel_fd_);
  fd_ = kernel_fd_ = -1;
}

NbdConnection::~NbdConnection() { Reset(); }

NbdConnection::NbdConnection(NbdConnection&& other) noexcept
    : fd_(other.fd_),
      kernel_fd_(other.kernel_fd_),
      info_(other.info_),
      tls_(std::move(other.tls_)) {
  other.fd_ = other.kernel_fd_ = -1;
}

NbdConnection& NbdConnection::operator=(NbdConnection&& other) noexcept {
  if (this != &other) {
    Reset();
    fd_ = other.fd_;
    kernel_fd_ = other.kernel_fd_;
    info_ = other.info_;
    tls_ = std::move(other.tls_);
    other.fd_ = other.kernel_fd_ = -1;
  }
  return *this;
}

absl::StatusOr<int> NbdConnection::KernelSocket() {
  if (kernel_fd_ >= 0) return kernel_fd_;
  if (!tls_) return fd_;
  if (fd_ < 0) return absl::FailedPreconditionError("NBD connection is closed");
  int fd = fd_;
  fd_ = -1;
  ASSIGN_OR_RETURN(kernel_fd_, StartTlsProxy(std::move(tls_), fd));
  return kernel_fd_;
}

void NbdConnection::Disconnect() {
  nbd::RequestHeader disc;
  disc.type = nbd::kCmdDisc;
  std::string bytes = nbd::EncodeRequestHeader(disc);
  if (tls_) {
    (void)tls_->Write(bytes.data(), bytes.size());
    tls_->Close();
  } else if (fd_ >= 0) {
    security::PlainStream plain(fd_);
    (void)WriteAll(plain, bytes, "");
  }
  Reset();
}

absl::StatusOr<NbdConnection> NbdConnect(const NbdUri& uri, std::chrono::milliseconds timeout) {
  ASSIGN_OR_RETURN(int fd, Dial(uri, timeout));
  NbdConnection conn(fd, {});
  SetTimeouts(fd, timeout);
  std::unique_ptr<security::ByteStream> stream = std::make_unique<security::PlainStream>(fd);
  ASSIGN_OR_RETURN(NbdExportInfo info, Handshake(&stream, fd, uri, timeout));
  // The kernel reads this socket with its own timeout; ours would break it.
  SetTimeouts(fd, std::chrono::milliseconds(0));
  conn.fd_ = -1;  // handed on below
  if (stream->peer() == nullptr) return NbdConnection(fd, info);
  return NbdConnection(fd, info, std::move(stream));
}

}  // namespace syncblock::repl::initiator
