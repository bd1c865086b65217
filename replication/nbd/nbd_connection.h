// One client connection of the NBD server: the handshake, then the
// transmission phase, driven by Serve() on a thread the server lends it only
// while the client has something to say. An idle connection (between
// handshake messages, or in transmission with nothing in flight for
// `park_after`) gives its thread back: Serve() returns kParked and the server
// watches the socket (epoll) and calls Serve() again when it is readable. So
// thousands of idle clients cost file descriptors, not threads.
//
// While active, Serve() reads requests continuously and hands each to
// BlockDevice::Submit, so many requests are in flight at once. Completions
// arrive on any thread, in any order; each reply (header + data) is sent
// whole: directly by the completing thread when the socket takes it without
// blocking, otherwise by the connection's writer thread (running only while
// the connection is active), so a slow client never stalls the device's
// threads.
//
// Lifetime: owned through shared_ptr; every in-flight request's completion
// holds a reference. A connection parks only with nothing in flight, and
// Serve() returns kClosed only after every request submitted has completed and
// its reply was sent (or dropped because the socket broke), so no callback
// ever touches a closed socket or a freed connection.
//
// Thread-safety: Start() and Serve() are called by one thread at a time (the
// server's). Shutdown(), export_name() and the other accessors may be called
// from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "replication/block_device.h"
#include "replication/nbd/nbd_handshake.h"
#include "replication/nbd/nbd_protocol.h"
#include "replication/nbd/nbd_socket.h"
#include "replication/nbd/nbd_stats.h"
#include "replication/security/byte_stream.h"
#include "replication/security/tls_context.h"

namespace syncblock::repl::nbd {

struct ConnectionConfig {
  HandshakeConfig handshake;
  // Set: FORCEDTLS (handshake.tls must be true too); after NBD_OPT_STARTTLS
  // the rest of the session runs over a TLS stream from this context.
  std::shared_ptr<security::TlsContext> tls;
  // Back-pressure: the reader stops reading requests while this many (or
  // this many bytes of payload) are in flight.
  size_t max_inflight_requests = 256;
  size_t max_inflight_bytes = 256u << 20;
  // A WRITE longer than the maximum block size is read and discarded (then
  // answered with EINVAL) up to this length; longer ones close the connection.
  uint32_t max_write_discard = 64u << 20;
  // Each handshake message must arrive whole within this time.
  std::chrono::milliseconds handshake_timeout{30000};
  // A client that does not read its replies for this long is disconnected.
  std::chrono::milliseconds send_timeout{60000};
  // In transmission, a connection with nothing in flight gives its threads
  // back (Serve() returns kParked) when no request came for this long after
  // its last one, and at once when it was woken without a request (or has
  // just finished its handshake).
  std::chrono::milliseconds park_after{1000};
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using CountersFor = std::function<std::shared_ptr<NbdExportCounters>(const std::string&)>;

  // Takes ownership of `fd`, a connected stream socket.
  Connection(int fd, std::string peer, ExportProvider* provider, ConnectionConfig config,
             CountersFor counters_for);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  enum class Progress {
    kParked,  // idle: call Serve() again once the socket is readable
    kClosed,  // over: the socket is closed
  };

  // Sends the server greeting. False (and the socket is closed) when it
  // cannot be sent; then the connection is over.
  bool Start();
  // Serves what the client sends until it goes quiet (kParked) or the
  // connection ends: the client leaves, breaks the protocol, or Shutdown()
  // was called (kClosed, after draining the requests in flight).
  Progress Serve();
  // Ends the connection: wakes the reader and any blocked send; a parked
  // connection's socket becomes readable (EOF), so its next Serve() closes.
  void Shutdown();
  // The export the client asked for (empty before it named one).
  std::string export_name() const;
  // The socket, for the server to watch while the connection is parked.
  int fd() const;
  // Still negotiating (the server bounds how long a parked handshake waits).
  bool in_handshake() const { return phase_ != Phase::kTransmission; }

 private:
  struct Reply {
    char header[kSimpleReplySize];
    std::string data;  // READ payload
    size_t sent = 0;   // bytes of header+data already on the wire
    size_t size() const { return kSimpleReplySize + data.size(); }
  };
  struct Queued {
    Reply reply;
    size_t slot_bytes;
  };

  enum class Phase { kClientFlags, kOptions, kTransmission };
  enum class Step { kContinue, kTransmission, kClose };

  // One client message of the handshake (client flags, or one option).
  Step Negotiate();
  // Runs the transmission phase until idle (kParked) or over (kClosed).
  Progress Transmit();
  // Waits up to `timeout` for input; false on timeout. True also on EOF or
  // an error (the next read reports it).
  bool WaitReadable(std::chrono::milliseconds timeout);
  bool IdleLocked() const;
  void StartWriter();
  void StopWriter();
  Progress Close();
  // Waits for room for one more request of `bytes` payload; false once the
  // connection is shutting down.
  bool AcquireSlot(size_t bytes);
  void ReleaseSlotLocked(size_t bytes);
  void Complete(IoRequest& io, uint64_t handle, std::chrono::steady_clock::time_point start,
                size_t slot_bytes);
  // Sends (or queues) a reply; releases the request's slot once it is sent.
  void Send(Reply reply, size_t slot_bytes);
  void SendError(uint64_t handle, uint32_t error);
  void WriterLoop();
  void BreakLocked();
  bool WriteRaw(const std::string& bytes);
  // After STARTTLS was acknowledged: the TLS handshake, then the stream
  // switch. False (logged) when the connection must close.
  bool UpgradeToTls();

  const std::string peer_;
  const ConnectionConfig config_;
  const CountersFor counters_for_;

  // The bytes' way in and out: the bare socket, then TLS after STARTTLS.
  // Replaced only during the handshake (one thread); used by the reader and
  // the repliers in transmission.
  std::unique_ptr<security::ByteStream> stream_;

  // Owned by the thread running Serve().
  Phase phase_ = Phase::kClientFlags;
  SocketReader reader_;
  Handshake handshake_;
  bool counted_open_ = false;

  // Set during the handshake, read-only afterwards.
  std::shared_ptr<BlockDevice> device_;
  std::shared_ptr<NbdExportCounters> counters_;
  ExportLimits limits_;

  mutable std::mutex mu_;
  int fd_;                      // guarded by mu_ for close/shutdown
  std::string export_name_;     // guarded by mu_
  bool shutting_down_ = false;  // guarded by mu_
  bool broken_ = false;         // guarded by mu_: replies can no longer be sent
  size_t inflight_ = 0;         // guarded by mu_
  size_t inflight_bytes_ = 0;   // guarded by mu_
  std::deque<Queued> queue_;    // guarded by mu_: replies for the writer
  bool writer_stop_ = false;    // guarded by mu_
  std::condition_variable slot_cv_;
  std::condition_variable writer_cv_;
  std::thread writer_;
};

}  // namespace syncblock::repl::nbd
