// The metrics and health HTTP endpoint of a daemon (cpp-httplib): GET /metrics
// renders Prometheus text, GET /healthz answers 200 "ok" while the daemon is
// healthy and 503 with the reason otherwise. Runs its own thread.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"

namespace httplib {
class Server;
}

namespace syncblock::driver {

class HttpEndpoint {
 public:
  HttpEndpoint(std::function<std::string()> metrics, std::function<absl::Status()> health);
  ~HttpEndpoint();

  // Binds host:port (port 0 picks one) and starts serving.
  absl::Status Start(const std::string& host, int port);
  int port() const { return port_; }
  void Stop();

 private:
  std::function<std::string()> metrics_;
  std::function<absl::Status()> health_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::atomic<bool> listen_returned_{false};
  int port_ = 0;
};

}  // namespace syncblock::driver
