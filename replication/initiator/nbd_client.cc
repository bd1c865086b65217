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
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "replication/util/status_macros.h"

namespace syncblock::repl::initiator {
namespace {

using namespace nbdproto;

void PutBe(std::string& out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t GetBe(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

absl::Status WriteAll(int fd, const std::string& data, const std::string& peer) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return absl::UnavailableError(
          absl::StrCat("NBD handshake with ", peer, ": send: ", std::strerror(errno)));
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadExactly(int fd, size_t len, const std::string& peer) {
  std::string buf(len, '\0');
  size_t done = 0;
  while (done < len) {
    ssize_t n = recv(fd, buf.data() + done, len - done, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {
      return absl::UnavailableError(
          absl::StrCat("NBD handshake with ", peer, ": server closed the connection"));
    }
    if (n < 0) {
      return absl::UnavailableError(
          absl::StrCat("NBD handshake with ", peer, ": recv: ", std::strerror(errno)));
    }
    done += static_cast<size_t>(n);
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

absl::StatusOr<NbdExportInfo> Handshake(int fd, const NbdUri& uri) {
  const std::string peer = uri.ToString();
  ASSIGN_OR_RETURN(std::string hello, ReadExactly(fd, 18, peer));
  if (GetBe(hello.data(), 8) != kNbdMagic || GetBe(hello.data() + 8, 8) != kOptMagic) {
    return absl::InvalidArgumentError(
        absl::StrCat(peer, " is not a fixed-newstyle NBD server (bad greeting)"));
  }
  uint16_t server_flags = static_cast<uint16_t>(GetBe(hello.data() + 16, 2));
  if (!(server_flags & kFlagFixedNewstyle)) {
    return absl::InvalidArgumentError(absl::StrCat(peer, " does not speak fixed newstyle NBD"));
  }
  std::string out;
  PutBe(out, kFlagFixedNewstyle | (server_flags & kFlagNoZeroes), 4);
  // NBD_OPT_GO: export name, then the one extra info we want (block sizes).
  const std::string& name = uri.export_name;
  PutBe(out, kOptMagic, 8);
  PutBe(out, kOptGo, 4);
  PutBe(out, 4 + name.size() + 2 + 2, 4);
  PutBe(out, name.size(), 4);
  out += name;
  PutBe(out, 1, 2);
  PutBe(out, kInfoBlockSize, 2);
  RETURN_IF_ERROR(WriteAll(fd, out, peer));

  NbdExportInfo info;
  bool have_export = false;
  for (int replies = 0; replies < 64; ++replies) {
    ASSIGN_OR_RETURN(std::string head, ReadExactly(fd, 20, peer));
    if (GetBe(head.data(), 8) != kOptReplyMagic) {
      return absl::InvalidArgumentError(absl::StrCat(peer, ": bad option reply magic"));
    }
    uint32_t option = static_cast<uint32_t>(GetBe(head.data() + 8, 4));
    uint32_t type = static_cast<uint32_t>(GetBe(head.data() + 12, 4));
    uint32_t len = static_cast<uint32_t>(GetBe(head.data() + 16, 4));
    if (option != kOptGo) {
      return absl::InvalidArgumentError(
          absl::StrCat(peer, ": reply to option ", option, " when NBD_OPT_GO was asked"));
    }
    if (len > 64 * 1024) {
      return absl::InvalidArgumentError(absl::StrCat(peer, ": option reply of ", len, " bytes"));
    }
    ASSIGN_OR_RETURN(std::string data, ReadExactly(fd, len, peer));
    if (type & kRepErrBit) {
      std::string why = data.empty() ? "" : absl::StrCat(": ", data);
      if (type == kRepErrUnknown) {
        return absl::NotFoundError(
            absl::StrCat(peer, " does not serve export \"", name, "\"", why));
      }
      if (type == kRepErrUnsup) {
        return absl::UnimplementedError(absl::StrCat(peer, " does not support NBD_OPT_GO", why));
      }
      return absl::UnavailableError(absl::StrCat(peer, " refused export \"", name, "\" (error ",
                                                 type & ~kRepErrBit, ")", why));
    }
    if (type == kRepAck) {
      if (!have_export) {
        return absl::InvalidArgumentError(
            absl::StrCat(peer, ": NBD_OPT_GO acknowledged without size"));
      }
      return info;
    }
    if (type == kRepInfo && data.size() >= 2) {
      uint16_t info_type = static_cast<uint16_t>(GetBe(data.data(), 2));
      if (info_type == kInfoExport && data.size() >= 12) {
        info.size = GetBe(data.data() + 2, 8);
        info.transmission_flags = static_cast<uint16_t>(GetBe(data.data() + 10, 2));
        have_export = true;
      } else if (info_type == kInfoBlockSize && data.size() >= 14) {
        info.min_block = static_cast<uint32_t>(GetBe(data.data() + 2, 4));
        info.preferred_block = static_cast<uint32_t>(GetBe(data.data() + 6, 4));
        info.max_block = static_cast<uint32_t>(GetBe(data.data() + 10, 4));
      }
    }
    // Other informational replies are allowed and ignored.
  }
  return absl::InvalidArgumentError(absl::StrCat(peer, ": too many option replies"));
}

}  // namespace

std::string NbdUri::ToString() const {
  std::string h = host.find(':') != std::string::npos ? absl::StrCat("[", host, "]") : host;
  return absl::StrCat("nbd://", h, ":", port, "/", export_name);
}

absl::StatusOr<NbdUri> ParseNbdUri(std::string_view uri) {
  constexpr std::string_view kScheme = "nbd://";
  if (uri.substr(0, kScheme.size()) != kScheme) {
    return absl::InvalidArgumentError(
        absl::StrCat("not an nbd:// URI: \"", std::string(uri), "\""));
  }
  std::string_view rest = uri.substr(kScheme.size());
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  NbdUri out;
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

NbdConnection::~NbdConnection() {
  if (fd_ >= 0) close(fd_);
}

NbdConnection::NbdConnection(NbdConnection&& other) noexcept : fd_(other.fd_), info_(other.info_) {
  other.fd_ = -1;
}

NbdConnection& NbdConnection::operator=(NbdConnection&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = other.fd_;
    info_ = other.info_;
    other.fd_ = -1;
  }
  return *this;
}

int NbdConnection::Release() {
  int fd = fd_;
  fd_ = -1;
  return fd;
}

void NbdConnection::Disconnect() {
  if (fd_ < 0) return;
  std::string req;
  PutBe(req, kRequestMagic, 4);
  PutBe(req, 0, 2);         // command flags
  PutBe(req, kCmdDisc, 2);  // type
  PutBe(req, 0, 8);         // cookie
  PutBe(req, 0, 8);         // offset
  PutBe(req, 0, 4);         // length
  (void)WriteAll(fd_, req, "");
  close(fd_);
  fd_ = -1;
}

absl::StatusOr<NbdConnection> NbdConnect(const NbdUri& uri, std::chrono::milliseconds timeout) {
  ASSIGN_OR_RETURN(int fd, Dial(uri, timeout));
  NbdConnection conn(fd, {});
  SetTimeouts(fd, timeout);
  ASSIGN_OR_RETURN(NbdExportInfo info, Handshake(fd, uri));
  // The kernel reads this socket with its own timeout; ours would break it.
  SetTimeouts(fd, std::chrono::milliseconds(0));
  return NbdConnection(conn.Release(), info);
}

}  // namespace syncblock::repl::initiator
