#include "driver/http_endpoint.h"

#include <httplib.h>

#include "absl/strings/str_cat.h"

namespace syncblock::driver {

HttpEndpoint::HttpEndpoint(std::function<std::string()> metrics,
                           std::function<absl::Status()> health)
    : metrics_(std::move(metrics)), health_(std::move(health)) {}

HttpEndpoint::~HttpEndpoint() { Stop(); }

absl::Status HttpEndpoint::Start(const std::string& host, int port) {
  server_ = std::make_unique<httplib::Server>();
  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_(), "text/plain; version=0.0.4; charset=utf-8");
  });
  server_->Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    absl::Status s = health_();
    res.status = s.ok() ? 200 : 503;
    res.set_content(s.ok() ? "ok\n" : std::string(s.message()) + "\n", "text/plain");
  });
  if (port == 0) {
    port_ = server_->bind_to_any_port(host);
  } else {
    port_ = server_->bind_to_port(host, port) ? port : -1;
  }
  if (port_ < 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", host, ":", port, " for metrics"));
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return absl::OkStatus();
}

void HttpEndpoint::Stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace syncblock::driver
