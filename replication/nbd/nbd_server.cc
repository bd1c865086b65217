#include "replication/nbd/nbd_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/epoll.h>
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

// epoll tags of the two fds that are not connections (ids count from 0).
constexpr uint64_t kListenTag = ~0ull;
constexpr uint64_t kWakeTag = ~0ull - 1;

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
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (wake_fd_ < 0 || epoll_fd_ < 0) {
    std::string error = std::strerror(errno);
    ::close(fd);
    return absl::InternalError(absl::StrCat("nbd eventfd/epoll: ", error));
  }
  // Non-blocking: the event loop accepts until EAGAIN and never blocks.
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  epoll_event listen_ev{};
  listen_ev.events = EPOLLIN;
  listen_ev.data.u64 = kListenTag;
  epoll_event wake_ev{};
  wake_ev.events = EPOLLIN;
  wake_ev.data.u64 = kWakeTag;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &listen_ev) != 0 ||
      ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &wake_ev) != 0) {
    std::string error = std::strerror(errno);
    ::close(fd);
    return absl::InternalError(absl::StrCat("nbd epoll_ctl: ", error));
  }
  listen_fd_ = fd;
  event_thread_ = std::thread([this] { EventLoop(); });
  if (options_.tls) {
    spdlog::info("nbd server listening on {}:{} (TLS required, client certificates checked)", host,
                 port_);
  } else {
    spdlog::warn(
        "nbd server listening on {}:{} in PLAINTEXT: no TLS, no client authentication, every "
        "client may open every volume",
        host, port_);
  }
  return absl::OkStatus();
}

void NbdServer::EventLoop() {
  epoll_event events[64];
  while (true) {
    // Woken by input, by a finished Serve(), by Stop(); at least once a
    // second to bound parked handshakes.
    int n = ::epoll_wait(epoll_fd_, events, 64, 1000);
    if (n < 0) {
      if (errno == EINTR) continue;
      spdlog::error("nbd epoll_wait: {}", std::strerror(errno));
      return;
    }
    bool accept = false;
    std::vector<uint64_t> readable;
    for (int i = 0; i < n; ++i) {
      uint64_t tag = events[i].data.u64;
      if (tag == kListenTag) {
        accept = true;
      } else if (tag == kWakeTag) {
        uint64_t drained;
        [[maybe_unused]] ssize_t r = ::read(wake_fd_, &drained, sizeof(drained));
      } else {
        readable.push_back(tag);
      }
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      if (stopping_) return;
      for (uint64_t id : readable) {
        auto it = connections_.find(id);
        if (it != connections_.end() && it->second.parked) ActivateLocked(id, it->second);
      }
    }
    ReapFinished();
    if (accept) AcceptAll();
    ExpireHandshakes();
  }
}

void NbdServer::AcceptAll() {
  while (true) {
    sockaddr_storage peer{};
    socklen_t len = sizeof(peer);
    int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      // EMFILE and friends: log and keep serving the connections we have.
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        spdlog::warn("nbd accept: {}", std::strerror(errno));
      }
      return;
    }
    Accept(fd, PeerName(peer));
  }
}

void NbdServer::Accept(int fd, const std::string& peer) {
  nbd::ConnectionConfig config;
  config.handshake.block_sizes = options_.block_sizes;
  config.handshake.multi_conn = options_.multi_conn;
  config.max_inflight_requests = options_.max_inflight_requests;
  config.max_inflight_bytes = options_.max_inflight_bytes;
  config.handshake_timeout = options_.handshake_timeout;
  config.send_timeout = options_.send_timeout;
  config.park_after = options_.park_after;
  config.tls = options_.tls;
  config.handshake.tls = options_.tls != nullptr;
  config.handshake.authorizer = options_.authorizer.get();
  bool refused = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    size_t served = connections_.size() - refusing_;
    if (served >= options_.max_connections) {
      if (refusing_ >= options_.max_refusing) {
        spdlog::warn(
            "nbd: closing connection from {}: {} connections open (limit {}) and {} "
            "refusals in progress",
            peer, served, options_.max_connections, refusing_);
        ::close(fd);
        return;
      }
      refused = true;
      config.handshake.refusal =
          absl::StrCat("too many connections to this NBD server (limit ", options_.max_connections,
                       ", storage flag --nbd-max-connections); try again later");
      spdlog::warn("nbd: refusing connection from {}: {} connections open, the limit is {}", peer,
                   served, options_.max_connections);
    }
  }
  auto connection = std::make_shared<nbd::Connection>(
      fd, peer, provider_.get(), config,
      [this](const std::string& name) { return CountersFor(name); });
  // The greeting is small enough for any socket buffer: sent from here, then
  // the connection waits for the client's flags without a thread.
  if (!connection->Start()) return;
  std::lock_guard<std::mutex> l(mu_);
  uint64_t id = next_id_++;
  Entry& entry = connections_[id];
  entry.connection = std::move(connection);
  entry.refused = refused;
  if (refused) ++refusing_;
  Park(id, entry);
}

void NbdServer::ActivateLocked(uint64_t id, Entry& entry) {
  entry.parked = false;
  auto connection = entry.connection;
  entry.thread = std::thread([this, id, connection] {
    bool parked = connection->Serve() == nbd::Connection::Progress::kParked;
    std::lock_guard<std::mutex> l(mu_);
    finished_.push_back({id, parked});
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof(one));
  });
}

void NbdServer::Park(uint64_t id, Entry& entry) {
  entry.parked = true;
  entry.parked_since = std::chrono::steady_clock::now();
  epoll_event ev{};
  // One-shot: the event loop hands the connection to one thread, and arms
  // the socket again only when that thread has parked it.
  ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
  ev.data.u64 = id;
  int fd = entry.connection->fd();
  int op = entry.armed ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
  if (::epoll_ctl(epoll_fd_, op, fd, &ev) != 0) {
    // Cannot watch it: serve it on a thread rather than lose it.
    spdlog::warn("nbd: epoll_ctl: {}", std::strerror(errno));
    ActivateLocked(id, entry);
    return;
  }
  entry.armed = true;
}

void NbdServer::ReapFinished() {
  std::vector<std::thread> done;
  std::lock_guard<std::mutex> l(mu_);
  for (const Finished& f : finished_) {
    auto it = connections_.find(f.id);
    if (it == connections_.end()) continue;
    done.push_back(std::move(it->second.thread));
    if (f.parked) {
      Park(f.id, it->second);
    } else {
      if (it->second.refused) --refusing_;
      connections_.erase(it);  // its socket is closed (and so out of the epoll set)
    }
  }
  finished_.clear();
  // The threads have pushed their result as their last act: joining is quick.
  for (std::thread& t : done) t.join();
}

void NbdServer::ExpireHandshakes() {
  auto now = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> l(mu_);
  for (auto& [id, entry] : connections_) {
    if (!entry.parked || !entry.connection->in_handshake()) continue;
    if (now - entry.parked_since < options_.handshake_timeout) continue;
    spdlog::info("nbd: closing a connection idle in the handshake for {} ms",
                 options_.handshake_timeout.count());
    // Its socket becomes readable (EOF): the next Serve() closes it.
    entry.connection->Shutdown();
    entry.parked_since = now;
  }
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
  if (event_thread_.joinable()) event_thread_.join();
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    listen_fd_ = -1;
  }
  std::map<uint64_t, Entry> all;
  {
    std::lock_guard<std::mutex> l(mu_);
    all.swap(connections_);
    finished_.clear();
  }
  for (auto& [id, entry] : all) entry.connection->Shutdown();
  for (auto& [id, entry] : all) {
    if (entry.thread.joinable()) entry.thread.join();
  }
  // Parked ones end here: their socket is shut, so Serve() reads EOF at once.
  for (auto& [id, entry] : all) {
    while (entry.connection->fd() >= 0) {
      if (entry.connection->Serve() == nbd::Connection::Progress::kClosed) break;
    }
  }
  for (int* fd : {&wake_fd_, &epoll_fd_}) {
    if (*fd >= 0) {
      ::close(*fd);
      *fd = -1;
    }
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
  for (const Finished& f : finished_) {
    if (!f.parked) open -= connections_.count(f.id);
  }
  return open;
}

}  // namespace syncblock::repl
