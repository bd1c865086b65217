#include "driver/http_endpoint.h"

#include <httplib.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace syncblock::driver {

HttpEndpoint::HttpEndpoint(std::function<std::string()> metrics,
                           std::function<absl::Status()> health)
    : metrics_(std::move(metrics)), health_(std::move(health)) {}

HttpEndpoint::~HttpEndpoint() { Stop(); }

absl::Status HttpEndpoint::Start(const std::string& host, int port) {
  server_ = std::make_unique<httplib::Server>();
  // SO_REUSEADDR only: httplib's default SO_REUSEPORT let a second daemon
  // share a taken metrics port silently, splitting scrapes between the two.
  server_->set_socket_options([](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_(), "text/plain; version=0.0.4; charset=utf-8");
  });
  server_->Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    absl::Status s = health_();
    res.status = s.ok() ? 200 : 503;
    res.set_content(s.ok() ? "ok\n" : std::string(s.message()) + "\n", "text/plain");
  });
  errno = 0;
  if (port == 0) {
    port_ = server_->bind_to_any_port(host);
  } else {
    port_ = server_->bind_to_port(host, port) ? port : -1;
  }
  if (port_ < 0) {
    const int err = errno;  // bind(2)'s, left by httplib
    return absl::UnavailableError(absl::StrCat("cannot listen on ", host, ":", port, " for metrics",
                                               err != 0 ? absl::StrCat(": ", strerror(err)) : ""));
  }
  thread_ = std::thread([this] {
    server_->listen_after_bind();
    listen_returned_ = true;
  });
  return absl::OkStatus();
}

void HttpEndpoint::Stop() {
  if (!thread_.joinable()) return;
  // httplib's stop() does nothing until its listen loop runs, and that loop
  // then accepts forever: a daemon that fails right after Start (its next
  // port is taken) hung in this destructor. Wait for the loop first.
  while (!server_->is_running() && !listen_returned_) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  server_->stop();
  thread_.join();
}

}  // namespace syncblock::driver
