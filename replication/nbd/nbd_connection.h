// One client connection of the NBD server: the handshake, then the
// transmission phase. Run() is the connection's reader thread: it reads
// requests continuously and hands each to BlockDevice::Submit, so many
// requests are in flight at once. Completions arrive on any thread, in any
// order; each reply (header + data) is sent whole: directly by the completing
// thread when the socket takes it without blocking, otherwise by the
// connection's writer thread, so a slow client never stalls the device's
// threads.
//
// Lifetime: owned through shared_ptr; every in-flight request's completion
// holds a reference, and Run() returns only after every request submitted has
// completed and its reply was sent (or dropped because the socket broke), so
// no callback ever touches a closed socket or a freed connection.
//
// Thread-safety: Run() is called once, on the connection's own thread.
// Shutdown() and export_name() may be called from any thread.
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

namespace syncblock::repl::nbd {

struct ConnectionConfig {
  HandshakeConfig handshake;
  // Back-pressure: the reader stops reading requests while this many (or
  // this many bytes of payload) are in flight.
  size_t max_inflight_requests = 256;
  size_t max_inflight_bytes = 256u << 20;
  // A WRITE longer than the maximum block size is read and discarded (then
  // answered with EINVAL) up to this length; longer ones close the connection.
  uint32_t max_write_discard = 64u << 20;
  std::chrono::milliseconds handshake_timeout{30000};
  // A client that does not read its replies for this long is disconnected.
  std::chrono::milliseconds send_timeout{60000};
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

  // Serves the connection until the client leaves, breaks the protocol, or
  // Shutdown() is called; then drains in-flight requests and closes.
  void Run();
  // Ends the connection: wakes the reader and any blocked send.
  void Shutdown();
  // The export the client asked for (empty before it named one).
  std::string export_name() const;

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

  bool Negotiate(SocketReader& reader);
  void Transmit(SocketReader& reader);
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

  const std::string peer_;
  ExportProvider* const provider_;
  const ConnectionConfig config_;
  const CountersFor counters_for_;

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
