// The secondary side of the replication protocol: accepts primaries'
// connections, checks each hello against the local replica (creating it when
// the primary asks and this node has none), then applies frames in order and
// acknowledges each. A malformed or corrupt frame closes that connection and
// nothing of it is applied; other connections carry on.
//
// Thread-safe; one thread per connection.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "replication/engine/replica.h"
#include "replication/security/tls_context.h"
#include "replication/util/socket.h"

namespace syncblock::repl {

class ReplicaRegistry {
 public:
  virtual ~ReplicaRegistry() = default;
  virtual std::shared_ptr<Replica> FindReplica(const std::string& volume_id) = 0;
  // Creates an empty, inconsistent replica for a primary that names this node
  // as a member (the node lost its data, or was added).
  virtual absl::StatusOr<std::shared_ptr<Replica>> CreateReplicaFor(const HelloRequest& hello) = 0;
};

struct ReplicationServerOptions {
  // TLS for every connection; nullptr: plaintext (--insecure).
  std::shared_ptr<security::TlsContext> tls;
  // The TLS handshake and the hello must be done within this.
  std::chrono::milliseconds handshake_timeout{10000};
  // Given the data key of an encrypted volume by its primary (a hello
  // accepted over TLS; over plaintext the key is refused), so that a locked
  // replica is unlocked again. `primary` names the sender.
  std::function<void(const std::string& volume_id, const std::string& primary,
                     const std::string& data_key)>
      on_data_key;
};

class ReplicationServer {
 public:
  explicit ReplicationServer(ReplicaRegistry* registry, ReplicationServerOptions opts = {})
      : registry_(registry), opts_(std::move(opts)) {}
  ~ReplicationServer();

  absl::Status Listen(const HostPort& addr);
  int port() const { return port_; }
  void Stop();

  uint64_t frames_rejected() const { return frames_rejected_.load(); }
  // Connections refused before their hello was accepted: a failed TLS
  // handshake, a peer that is not a storage node or not the volume's primary.
  uint64_t connections_refused() const { return connections_refused_.load(); }

 private:
  struct Connection {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };

  void AcceptLoop();
  void Serve(int fd, const std::string& from);
  // Joins the threads of connections that ended. Requires mu_.
  void ReapLocked();

  ReplicaRegistry* const registry_;
  const ReplicationServerOptions opts_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;
  std::mutex mu_;
  std::set<int> conns_;              // guarded by mu_
  std::vector<Connection> threads_;  // guarded by mu_
  std::atomic<uint64_t> frames_rejected_{0};
  std::atomic<uint64_t> connections_refused_{0};
};

}  // namespace syncblock::repl
