#include "replication/initiator/tls_proxy.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace syncblock::repl::initiator {
namespace {

constexpr size_t kBuffer = 256 * 1024;

std::atomic<int> running{0};

struct Proxy {
  std::unique_ptr<security::ByteStream> stream;
  int tls_fd = -1;
  int plain_fd = -1;

  // Either direction ending ends both: the other thread wakes with EOF.
  void Stop() {
    ::shutdown(tls_fd, SHUT_RDWR);
    ::shutdown(plain_fd, SHUT_RDWR);
  }
  ~Proxy() {
    stream.reset();
    ::close(tls_fd);
    ::close(plain_fd);
    running.fetch_sub(1);
  }
};

bool SendAllPlain(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// Server -> kernel: replies and read data.
void Down(std::shared_ptr<Proxy> p) {
  std::vector<char> buf(kBuffer);
  for (;;) {
    ssize_t n = p->stream->Read(buf.data(), buf.size());
    if (n <= 0) {
      if (n < 0) spdlog::debug("nbd TLS proxy: read from server: {}", std::strerror(errno));
      break;
    }
    if (!SendAllPlain(p->plain_fd, buf.data(), static_cast<size_t>(n))) break;
  }
  p->Stop();
}

// Kernel -> server: requests and write data.
void Up(std::shared_ptr<Proxy> p) {
  std::vector<char> buf(kBuffer);
  for (;;) {
    ssize_t n = ::read(p->plain_fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {
      // The kernel let go of the connection (disconnect): end TLS properly.
      p->stream->Close();
      break;
    }
    if (n < 0 || !p->stream->Write(buf.data(), static_cast<size_t>(n))) break;
  }
  p->Stop();
}

}  // namespace

absl::StatusOr<int> StartTlsProxy(std::unique_ptr<security::ByteStream> stream, int stream_fd) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    std::string err = std::strerror(errno);
    stream.reset();
    ::close(stream_fd);
    return absl::InternalError(absl::StrCat("socketpair for the NBD TLS proxy: ", err));
  }
  timeval none{};
  ::setsockopt(stream_fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
  ::setsockopt(stream_fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof(none));
  auto p = std::make_shared<Proxy>();
  running.fetch_add(1);
  p->stream = std::move(stream);
  p->tls_fd = stream_fd;
  p->plain_fd = pair[1];
  std::thread(Down, p).detach();
  std::thread(Up, p).detach();
  return pair[0];
}

int RunningTlsProxies() { return running.load(); }

}  // namespace syncblock::repl::initiator
