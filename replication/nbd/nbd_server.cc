#include "replication/nbd/nbd_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "replication/nbd/nbd_connection.h"
#include "spdlog/spdlog.h"

namespace syncblock::repl {
namespace {

std::string PeerName(const sockaddr_storage& addr) {
  char host[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (addr.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
    port = ntohs(in->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
    port = ntohs(in6->sin6_port);
    return absl::StrCat("[", host, "]:", port);
  }
  return absl::StrCat(host, ":", port);
}

}  // namespace

NbdServer::NbdServer(std::shared_ptr<ExportProvider> provider, Options options)
    : provider_(std::move(provider)), options_(options) {}

NbdServer::~NbdServer() { Stop(); }

absl::Status NbdServer::Listen(const std::string& host, int port) {
  if (listen_fd_ >= 0) return absl::FailedPreconditionError("nbd server is already listening");
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* result = nullptr;
  std::string service = std::to_string(port);
  const char* node = (host.empty() || host == "*") ? nullptr : host.c_str();
  if (int rc = getaddrinfo(node, service.c_str(), &hints, &result); rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("nbd listen address ", host, ":", port, ": ", gai_strerror(rc)));
  }
  int fd = -1;
  std::string last_error = "no address";
  for (addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd, 128) == 0) break;
    last_error = std::strerror(errno);
    ::close(fd);
    fd = -1;
  }
  freeaddrinfo(result);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("nbd listen on ", host, ":", port, ": ", last_error));
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  port_ = bound.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                      : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) {
    ::close(fd);
    return absl::InternalError(absl::StrCat("nbd eventfd: ", std::strerror(errno)));
  }
  listen_fd_ = fd;
  accept_thread_ = std::thread([this] { AcceptLoop(); });
  spdlog::info("nbd server listening on {}:{}", host, port_);
  return absl::OkStatus();
}

void NbdServer::AcceptLoop() {
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("nbd accept poll: {}", std::strerror(errno));
      return;
    }
    if (fds[1].revents) {
      uint64_t drained;
      [[maybe_unused]] ssize_t n = ::read(wake_fd_, &drained, sizeof(drained));
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      if (stopping_) return;
    }
    ReapFinished();
    if (!(fds[0].revents & POLLIN)) continue;
    sockaddr_storage peer{};
    socklen_t len = sizeof(peer);
    int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
    if (fd < 0) {
      // EMFILE and friends: log and keep serving the connections we have.
      if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED) {
        spdlog::warn("nbd accept: {}", std::strerror(errno));
      }
      continue;
    }
    nbd::ConnectionConfig config;
    config.handshake.block_sizes = options_.block_sizes;
    config.handshake.multi_conn = options_.multi_conn;
    config.max_inflight_requests = options_.max_inflight_requests;
    config.max_inflight_bytes = options_.max_inflight_bytes;
    config.handshake_timeout = options_.handshake_timeout;
    config.send_timeout = options_.send_timeout;
    auto connection = std::make_shared<nbd::Connection>(
        fd, PeerName(peer), provider_.get(), config,
        [this](const std::string& name) { return CountersFor(name); });
    std::lock_guard<std::mutex> l(mu_);
    uint64_t id = next_id_++;
    Entry& entry = connections_[id];
    entry.connection = connection;
    entry.thread = std::thread([this, id, connection] {
      connection->Run();
      std::lock_guard<std::mutex> l(mu_);
      finished_.push_back(id);
      uint64_t one = 1;
      [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof(one));
    });
  }
}

void NbdServer::ReapFinished() {
  std::vector<Entry> done;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (uint64_t id : finished_) {
      auto it = connections_.find(id);
      if (it == connections_.end()) continue;
      done.push_back(std::move(it->second));
      connections_.erase(it);
    }
    finished_.clear();
  }
  for (Entry& entry : done) entry.thread.join();
}

void NbdServer::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  if (wake_fd_ >= 0) {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof(one));
  }
  if (accept_thread_.joinable()) accept_thread_.join();
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    listen_fd_ = -1;
  }
  std::map<uint64_t, Entry> all;
  {
    std::lock_guard<std::mutex> l(mu_);
    all.swap(connections_);
  }
  for (auto& [id, entry] : all) entry.connection->Shutdown();
  for (auto& [id, entry] : all) entry.thread.join();
  if (wake_fd_ >= 0) {
    ::close(wake_fd_);
    wake_fd_ = -1;
  }
}

void NbdServer::CloseExport(const std::string& name) {
  std::lock_guard<std::mutex> l(mu_);
  int closed = 0;
  for (auto& [id, entry] : connections_) {
    if (entry.connection->export_name() == name) {
      entry.connection->Shutdown();
      ++closed;
    }
  }
  if (closed > 0) spdlog::info("nbd: closed {} connection(s) to export {}", closed, name);
}

std::shared_ptr<NbdExportCounters> NbdServer::CountersFor(const std::string& name) {
  std::lock_guard<std::mutex> l(mu_);
  auto& counters = counters_[name];
  if (!counters) counters = std::make_shared<NbdExportCounters>(name);
  return counters;
}

std::vector<NbdExportStats> NbdServer::Stats() const {
  std::vector<NbdExportStats> out;
  std::lock_guard<std::mutex> l(mu_);
  out.reserve(counters_.size());
  for (const auto& [name, counters] : counters_) out.push_back(counters->Snapshot());
  return out;
}

size_t NbdServer::ConnectionCount() const {
  std::lock_guard<std::mutex> l(mu_);
  size_t open = connections_.size();
  for (uint64_t id : finished_) open -= connections_.count(id);
  return open;
}

}  // namespace syncblock::repl
