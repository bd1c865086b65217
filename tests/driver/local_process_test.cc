// driver/local_process.h: telling which process listens on a port.
#include "driver/local_process.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace syncblock::driver {
namespace {

// A TCP socket bound to 127.0.0.1 (port 0: any), listening or not.
class BoundSocket {
 public:
  explicit BoundSocket(bool listen) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
          (!listen || ::listen(fd_, 4) == 0);
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~BoundSocket() { ::close(fd_); }
  bool ok() const { return ok_; }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  bool ok_ = false;
  int port_ = 0;
};

TEST(ListensOnTest, OnlyTheProcessHoldingTheListeningSocket) {
  BoundSocket listening(/*listen=*/true);
  ASSERT_TRUE(listening.ok());
  EXPECT_TRUE(ListensOn(::getpid(), listening.port()));
  // Another process does not hold it (pid 1 is init, or not visible at all).
  EXPECT_FALSE(ListensOn(1, listening.port()));

  BoundSocket bound_only(/*listen=*/false);
  ASSERT_TRUE(bound_only.ok());
  EXPECT_FALSE(ListensOn(::getpid(), bound_only.port()));
}

}  // namespace
}  // namespace syncblock::driver
