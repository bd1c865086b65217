// The NBD export server of a storage node: listens on a TCP port and serves
// each export (volume ID) the ExportProvider resolves, speaking the fixed
// newstyle NBD protocol (NetworkBlockDevice/nbd, doc/proto.md) with simple
// replies. Any NBD client works against it: the kernel's nbd driver, qemu,
// qemu-img/qemu-io, nbdinfo, nbdcopy, nbdfuse, fio's nbd engine.
//
// Supported: options EXPORT_NAME, GO, INFO (INFO_EXPORT, NAME, DESCRIPTION,
// BLOCK_SIZE 1/4096/32 MiB), LIST, ABORT; commands READ, WRITE, FLUSH, TRIM,
// WRITE_ZEROES (NO_HOLE), DISC, the FUA flag; several connections per export
// (CAN_MULTI_CONN).
//
// Threads: one event thread accepts connections and watches (epoll) every
// connection that is idle: in the handshake between messages, or in
// transmission with nothing in flight for `park_after`. A connection with
// something to do gets a reader thread (which pipelines requests into
// BlockDevice::Submit) and a writer thread for replies the socket could not
// take at once, until it is idle again. Idle connections cost no thread.
//
// TLS and access control: with `tls` set, NBD_OPT_STARTTLS as the protocol
// document's FORCEDTLS mode (nbd_handshake.h), then `authorizer` decides from
// the client certificate's identity which export it may open, read-write or
// read-only (NBD_REP_ERR_POLICY otherwise); replication/doc/nbd_tls.md.
//
// Connections: at most `max_connections` per server (port). Past that a
// client is refused in the handshake (NBD_REP_ERR_POLICY "too many
// connections ..." to its options, so `nbdinfo`/qemu print the reason) and
// the refusal is logged; past `max_refusing` refusals in progress, further
// clients are closed at once.
//
// Thread-safety: all methods may be called from any thread. Stop() (or the
// destructor) must not be called from a BlockDevice completion callback.
//
// Metrics: Stats() returns per-export counters; RenderNbdStatsPrometheus()
// (nbd_stats.h) turns them into /metrics text.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "replication/block_device.h"
#include "replication/nbd/nbd_access.h"
#include "replication/nbd/nbd_protocol.h"
#include "replication/nbd/nbd_stats.h"
#include "replication/security/tls_context.h"

namespace syncblock::repl {

namespace nbd {
class Connection;
}  // namespace nbd

struct NbdServerOptions {
  // Advertised in NBD_INFO_BLOCK_SIZE; `maximum` also bounds READ, WRITE and
  // WRITE_ZEROES lengths (longer ones get EINVAL).
  nbd::BlockSizes block_sizes;
  // Advertise NBD_FLAG_CAN_MULTI_CONN.
  bool multi_conn = true;
  // Per-connection back-pressure on requests in flight.
  size_t max_inflight_requests = 256;
  size_t max_inflight_bytes = 256u << 20;
  // A client must finish the handshake within this time.
  std::chrono::milliseconds handshake_timeout{30000};
  // A client that does not read its replies for this long is disconnected.
  std::chrono::milliseconds send_timeout{60000};
  // Connections served at once (any phase, refused ones not counted).
  size_t max_connections = kDefaultMaxConnections;
  // Refusing handshakes in progress at once; past that, close at accept.
  size_t max_refusing = 64;
  // A transmission-phase connection idle this long gives its threads back.
  std::chrono::milliseconds park_after{1000};
  // TLS: set, the server is in FORCEDTLS mode (NBD_OPT_STARTTLS before any
  // other option, the session then over TLS with the client's certificate
  // verified against the CA); null, plaintext (NOTLS mode, --insecure).
  std::shared_ptr<security::TlsContext> tls;
  // Which client may open which export (nbd_access.h); null: all of them.
  std::shared_ptr<nbd::ExportAuthorizer> authorizer;

  static constexpr size_t kDefaultMaxConnections = 512;
};

class NbdServer {
 public:
  using Options = NbdServerOptions;

  NbdServer(std::shared_ptr<ExportProvider> provider, Options options = {});
  ~NbdServer();  // Stop()s
  NbdServer(const NbdServer&) = delete;
  NbdServer& operator=(const NbdServer&) = delete;

  // Binds host:port (port 0 picks a free port; host "" or "0.0.0.0" or "::"
  // for every address) and starts accepting. Once per server.
  absl::Status Listen(const std::string& host, int port);
  // Turns TLS on (FORCEDTLS; see Options::tls). Before Listen().
  void UseTls(std::shared_ptr<security::TlsContext> tls) { options_.tls = std::move(tls); }
  bool tls() const { return options_.tls != nullptr; }

  // The bound port (valid after a successful Listen()).
  int port() const { return port_; }

  // Closes the listener and every connection (after their in-flight requests
  // complete) and joins all threads. Idempotent.
  void Stop();

  // Disconnects every connection to `name` (e.g. this node lost the primary
  // role: clients reconnect to the new primary).
  void CloseExport(const std::string& name);

  // Counters per export that has had a connection since the server started.
  std::vector<NbdExportStats> Stats() const;
  // Connections open now (any phase, refused ones included).
  size_t ConnectionCount() const;

 private:
  struct Entry {
    std::shared_ptr<nbd::Connection> connection;
    std::thread thread;  // running Serve(), or finished and not yet joined
    bool refused = false;
    bool parked = false;
    bool armed = false;  // its fd was added to the epoll set once
    std::chrono::steady_clock::time_point parked_since;
  };
  struct Finished {
    uint64_t id;
    bool parked;
  };

  void EventLoop();
  void AcceptAll();
  void Accept(int fd, const std::string& peer);
  // Lends `id` a thread to run Serve() on. mu_ held.
  void ActivateLocked(uint64_t id, Entry& entry);
  // Joins finished Serve() threads; parks or forgets their connections.
  void ReapFinished();
  void Park(uint64_t id, Entry& entry);
  // Ends handshakes parked longer than the handshake timeout.
  void ExpireHandshakes();
  std::shared_ptr<NbdExportCounters> CountersFor(const std::string& name);

  const std::shared_ptr<ExportProvider> provider_;
  Options options_;  // changed only before Listen()
  int listen_fd_ = -1;
  int wake_fd_ = -1;   // eventfd: Stop() and finished Serve() calls wake EventLoop
  int epoll_fd_ = -1;  // listen_fd_, wake_fd_ and every parked connection
  int port_ = 0;
  std::thread event_thread_;

  mutable std::mutex mu_;
  bool stopping_ = false;                                               // guarded by mu_
  uint64_t next_id_ = 0;                                                // guarded by mu_
  std::map<uint64_t, Entry> connections_;                               // guarded by mu_
  std::vector<Finished> finished_;                                      // guarded by mu_
  size_t refusing_ = 0;                                                 // guarded by mu_
  std::map<std::string, std::shared_ptr<NbdExportCounters>> counters_;  // guarded by mu_
};

}  // namespace syncblock::repl
