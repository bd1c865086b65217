// A small NBD client for fault tests that need more writes per second than a
// qemu-io per write gives, or a connection held open across a fault: it
// speaks to a URI that `ctl export` printed (nbd:// or nbds://) with the raw
// test client, and says of each write whether it was acknowledged,
// refused with an error, or left without an answer. Not thread-safe.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>

#include "tests/replication/nbd_raw_client.h"
#include "tests/support/test_util.h"

namespace syncblock::testing {

class NbdBlockClient {
 public:
  enum class Outcome {
    kAcked,    // the server acknowledged it
    kError,    // the server answered with an error: it may still be applied somewhere
    kNoAnswer  // no answer within the timeout, or the connection broke
  };

  // nbd://HOST:PORT/NAME or nbds://HOST:PORT/NAME[?tls-certificates=DIR] on
  // 127.0.0.1 (TLS with the certificates WithNbdTls would give a real
  // client); nullptr when it cannot connect or the export is not served.
  static std::unique_ptr<NbdBlockClient> Connect(const std::string& uri, int timeout_ms) {
    const bool tls = uri.rfind("nbds://", 0) == 0;
    if (!tls && uri.rfind("nbd://", 0) != 0) return nullptr;
    const size_t authority = tls ? 7 : 6;
    auto colon = uri.find(':', authority);
    auto slash = uri.find('/', authority);
    if (colon == std::string::npos || slash == std::string::npos || slash < colon) return nullptr;
    int port = std::atoi(uri.substr(colon + 1, slash - colon - 1).c_str());
    const std::string name = uri.substr(slash + 1, uri.find('?', slash) - slash - 1);
    auto c = std::unique_ptr<NbdBlockClient>(new NbdBlockClient(port, timeout_ms));
    if (!c->raw_.connected()) return nullptr;
    if (tls && !c->StartTls(NbdTlsCertificateDir(uri))) return nullptr;
    if (!c->raw_.Go(name)) return nullptr;
    return c;
  }

  // Sends a request without waiting; returns its handle (0 when the send failed).
  uint64_t SendWrite(uint64_t offset, const std::string& data) {
    uint64_t h = ++handle_;
    namespace nbd = repl::nbd;
    bool ok = raw_.Send(repl::nbdtest::RawNbdClient::Request(nbd::kCmdWrite, h, offset,
                                                             static_cast<uint32_t>(data.size())) +
                        data);
    return ok ? h : 0;
  }
  uint64_t SendRead(uint64_t offset, uint32_t length) {
    uint64_t h = ++handle_;
    namespace nbd = repl::nbd;
    bool ok = raw_.Send(repl::nbdtest::RawNbdClient::Request(nbd::kCmdRead, h, offset, length));
    return ok ? h : 0;
  }
  // The next reply's handle and error; nullopt on timeout or a broken
  // connection. A read's data follows: ReadData.
  std::optional<repl::nbdtest::RawNbdClient::SimpleReply> NextReply() { return raw_.ReadReply(); }
  std::optional<std::string> ReadData(size_t n) { return raw_.Recv(n); }

  Outcome Write(uint64_t offset, const std::string& data) {
    uint64_t h = SendWrite(offset, data);
    if (h == 0) return Outcome::kNoAnswer;
    auto r = NextReply();
    if (!r || r->handle != h) return Outcome::kNoAnswer;
    return r->error == 0 ? Outcome::kAcked : Outcome::kError;
  }

  std::optional<std::string> Read(uint64_t offset, uint32_t length) {
    uint64_t h = SendRead(offset, length);
    if (h == 0) return std::nullopt;
    auto r = NextReply();
    if (!r || r->handle != h || r->error != 0) return std::nullopt;
    return ReadData(length);
  }

 private:
  NbdBlockClient(int port, int timeout_ms) : raw_(port, timeout_ms) {}

  // NBD_OPT_STARTTLS, then TLS with the client certificate in `dir`.
  bool StartTls(const std::string& dir) {
    return !dir.empty() && raw_.GreetWithTls({dir + "/ca-cert.pem", dir + "/client-cert.pem",
                                              dir + "/client-key.pem"})
                               .ok();
  }

  repl::nbdtest::RawNbdClient raw_;
  uint64_t handle_ = 0;
};

}  // namespace syncblock::testing
