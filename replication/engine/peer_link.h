// One peer of a primary: the connection to a replica on another storage node,
// its bounded send queue drained by its own sender thread, and its
// acknowledgement reader (DESIGN.md, "The engine's parts").
//
// Frames are queued without blocking, in stream order (Enqueue is called
// under the WriteSequencer's lock). The sender writes them in batches with
// writev; the reader matches each acknowledgement to the oldest frame sent.
// While the peer is not streaming (offline, failed, not yet connected), the
// regions of the frames it misses go to its dirty bitmap instead. A peer that
// falls behind, by more than `max_queue_bytes` queued and unacknowledged or by
// no acknowledgement for `stall_timeout` with frames outstanding, is dropped
// the same way: a slow or hung replica never stalls the volume, it is
// resynced when it returns.
//
// Every connection runs over a ByteStream: TLS 1.3 when the options carry a
// context (the replica's certificate must name this member), the bare socket
// otherwise. Why the peer cannot be reached (a refused certificate, a
// refused hello, a dial error) is its message in the view, which `volume
// show` prints.
//
// Threads: Start() runs the link thread (dial, TLS handshake, hello, read
// acknowledgements, reconnect); each connection has a sender thread. Delegate calls are made
// from the link thread with no lock of the link held.
//
// Thread-safe. Lock order: WriteSequencer, then PeerLink; the bitmap's file
// writes happen under the link's mutex (one byte of page cache per newly
// dirty region).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "replication/engine/dialer.h"
#include "replication/engine/outgoing_frame.h"
#include "replication/security/byte_stream.h"
#include "replication/security/tls_context.h"
#include "replication/store/dirty_bitmap.h"
#include "replication/store/manifest.h"
#include "replication/types/async_policy.h"
#include "replication/util/clock.h"
#include "replication/util/mutex.h"
#include "replication/wire/frame_io.h"
#include "replication/wire/hello.h"

namespace syncblock::repl {

enum class PeerState { kOffline, kResyncing, kInSync, kFailed };
const char* PeerStateName(PeerState s);

struct PeerLinkOptions {
  std::chrono::milliseconds connect_timeout{2000};
  // A connection on which a send makes no progress for this long fails.
  std::chrono::milliseconds send_timeout{10000};
  std::chrono::milliseconds reconnect_interval{500};
  // Bytes queued and sent but unacknowledged beyond which the peer is dropped.
  uint64_t max_queue_bytes = 64ull << 20;
  // No acknowledgement for this long while frames are outstanding: dropped.
  std::chrono::milliseconds stall_timeout{5000};
  // Time for the stall decision; nullptr: Clock::Real().
  Clock* clock = nullptr;
  // TLS for the connection (the replica must present the certificate of
  // this member's node id, role storage); nullptr: plaintext (--insecure).
  std::shared_ptr<security::TlsContext> tls;
};

struct ResyncProgress {
  bool full = false;
  bool checksum = false;
  uint64_t total = 0;
  uint64_t copied = 0;
  std::chrono::steady_clock::time_point start;
};

class PeerLink {
 public:
  using Clock = std::chrono::steady_clock;

  class Delegate {
   public:
    virtual ~Delegate() = default;
    // The hello that opens a connection to `link`'s replica.
    virtual std::string HelloPayload(const PeerLink& link) = 0;
    // The replica accepted the hello on `fd`: the delegate calls BeginStream
    // (or not, when it is stopping).
    virtual void Connected(PeerLink& link, const HelloReply& reply, int fd) = 0;
    // The replica refused the hello (its epoch is newer, for instance).
    virtual void Refused(PeerLink& link, const HelloReply& reply) = 0;
    // An acknowledgement (or checksum reply) of `sent` on connection `session`.
    virtual void Acked(PeerLink& link, uint64_t session, const OutgoingFrame& sent,
                       const Frame& ack) = 0;
    // Connection `session` is over and its sender has stopped.
    virtual void Disconnected(PeerLink& link, uint64_t session) = 0;
  };

  PeerLink(MemberInfo member, uint32_t slot, std::unique_ptr<DirtyBitmap> bitmap,
           PeerLinkOptions opts, std::shared_ptr<Dialer> dialer, Delegate* delegate);
  ~PeerLink();
  PeerLink(const PeerLink&) = delete;
  PeerLink& operator=(const PeerLink&) = delete;

  const std::string& node_id() const { return member_.node_id; }
  uint32_t slot() const { return slot_; }
  // The member is the volume's witness: it gets only the lease, the manifest
  // and the witness record, never data (failover.md, "Witness").
  bool witness() const ABSL_LOCKS_EXCLUDED(mu_);
  // The member is an asynchronous replica: it takes the stream, its lag is
  // bounded by its policy, and it counts in no quorum (peer_link_lag.cc).
  bool async() const { return async_; }

  void Start();
  // Drops the connection and joins the threads. Idempotent.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);
  // The member's address changed (it is used at the next connection).
  void SetMember(const MemberInfo& m) ABSL_LOCKS_EXCLUDED(mu_);

  // --- the stream (under the WriteSequencer's lock) ---
  // From now on frames go to `fd`; returns the connection's session number.
  uint64_t BeginStream(int fd) ABSL_LOCKS_EXCLUDED(mu_);
  // Queues `frame`, or marks its regions dirty when the peer does not
  // receive the stream (or falls behind by it). True when queued. A witness
  // takes no data frame, and misses none.
  bool Enqueue(const std::shared_ptr<OutgoingFrame>& frame) ABSL_LOCKS_EXCLUDED(mu_);
  // A reserved frame in the queue was filled or cancelled.
  void Wake() ABSL_LOCKS_EXCLUDED(mu_);

  // Ends connection `session` (0: whichever is current). The frames it had
  // outstanding, and `also` when given, go to the dirty bitmap; a non-OK
  // `refusal` leaves the peer failed with that error. Returns the sequence
  // numbers of the frames lost.
  std::vector<uint64_t> Drop(uint64_t session, const std::string& why,
                             const absl::Status& refusal = absl::OkStatus(),
                             const OutgoingFrame* also = nullptr) ABSL_LOCKS_EXCLUDED(mu_);
  // Drops a connection that has been stalled beyond its bounds.
  void CheckStall(Clock::time_point now) ABSL_LOCKS_EXCLUDED(mu_);

  // --- state ---
  uint64_t session() const ABSL_LOCKS_EXCLUDED(mu_);
  bool streaming(uint64_t session) const ABSL_LOCKS_EXCLUDED(mu_);
  PeerState state() const ABSL_LOCKS_EXCLUDED(mu_);
  // In sync, or resyncing with its end already queued: holds every earlier
  // write by the time it reads the next frame.
  bool CaughtUp() const ABSL_LOCKS_EXCLUDED(mu_);
  // The refusal that left the peer failed, while it stays failed (OK when
  // none, or once it reconnected).
  absl::Status refusal() const ABSL_LOCKS_EXCLUDED(mu_);
  // The resync of `session` ended at `seq` (its kResyncDone is queued).
  void SetResyncDone(uint64_t session, uint64_t seq) ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t resync_done_seq() const ABSL_LOCKS_EXCLUDED(mu_);
  // The peer acknowledged the resync end `seq`: in sync, bitmap cleared.
  // False when that is not this session's end.
  bool MarkInSync(uint64_t session, uint64_t seq) ABSL_LOCKS_EXCLUDED(mu_);
  void SetMessage(const std::string& message) ABSL_LOCKS_EXCLUDED(mu_);
  // Its next resync must be a full copy (a full resync was asked for, or a
  // mark of its bitmap failed); cleared when it is in sync.
  bool needs_full() const ABSL_LOCKS_EXCLUDED(mu_);
  void SetNeedsFull() ABSL_LOCKS_EXCLUDED(mu_);

  // --- the dirty bitmap ---
  absl::Status MarkDirty(uint64_t first, uint64_t last) ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status MarkAllDirty() ABSL_LOCKS_EXCLUDED(mu_);
  std::optional<uint64_t> NextDirty(uint64_t from) const ABSL_LOCKS_EXCLUDED(mu_);
  bool IsDirty(uint64_t region) const ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t DirtyCount() const ABSL_LOCKS_EXCLUDED(mu_);
  // Reopens the bitmap at `path` for a grown volume (every mark is in the
  // file already; reopened under the link's mutex so that none is missed).
  absl::Status GrowBitmap(const std::string& path, uint64_t regions) ABSL_LOCKS_EXCLUDED(mu_);

  // --- for the resyncer ---
  // Waits until the queue has room for a resync batch; false when the
  // session ended.
  bool WaitForRoom(uint64_t session) ABSL_LOCKS_EXCLUDED(mu_);
  // Sleeps until `deadline`; false when the session ended first.
  bool SleepUntil(uint64_t session, Clock::time_point deadline) ABSL_LOCKS_EXCLUDED(mu_);
  // The next checksum reply on `session`, or nullopt when it ended.
  std::optional<std::string> TakeChecksumReply(uint64_t session) ABSL_LOCKS_EXCLUDED(mu_);
  void SetResyncProgress(const ResyncProgress& p) ABSL_LOCKS_EXCLUDED(mu_);

  // --- an asynchronous replica's lag (peer_link_lag.cc) ---
  // The volume's bounds for this replica when it is asynchronous.
  void SetAsyncPolicy(const AsyncPolicy& policy) ABSL_LOCKS_EXCLUDED(mu_);
  // With the throttle policy, waits while this replica streams in sync and is
  // behind by more than its bounds. False when `deadline` came first (the
  // caller pulls it ahead rather than stall writers longer).
  bool WaitForLagWithin(Clock::time_point deadline) ABSL_LOCKS_EXCLUDED(mu_);

  struct Lag {
    // In sync: the bytes sent or queued and not acknowledged, and the age of
    // the oldest of those frames. Otherwise (pulled ahead, offline,
    // resyncing) the bound is broken: what it lacks is its dirty regions
    // (View::dirty_regions), `bytes` is 0, and the age is since it left sync.
    bool broken = false;
    uint64_t bytes = 0;
    std::chrono::milliseconds age{0};
    // Writes that waited for this replica under the throttle policy, ever.
    uint64_t throttled_writes = 0;
  };

  struct View {
    PeerState state;
    uint64_t acked_seq;
    uint64_t unacked;
    uint64_t queued_bytes;
    uint64_t dirty_regions;
    ResyncProgress resync;
    std::string message;
    Lag lag;
  };
  View GetView() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Connection {
    int fd = -1;
    std::unique_ptr<security::ByteStream> stream;
  };
  void LinkLoop();
  // Dial, TLS handshake and hello; FAILED_PRECONDITION when the replica
  // refused the hello (`reply` says why).
  absl::StatusOr<Connection> Handshake(HelloReply* reply);
  void SendLoop(uint64_t session, security::ByteStream* stream);
  void ReceiveLoop(uint64_t session, security::ByteStream* stream);
  std::vector<uint64_t> DropLocked(const std::string& why, const absl::Status& refusal,
                                   const OutgoingFrame* also) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MarkLostLocked(const OutgoingFrame& f) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool Live(uint64_t session) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return streaming_ && session_ == session && !stopping_;
  }
  // Bytes queued and unacknowledged beyond which the peer is dropped.
  uint64_t QueueLimitLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Lag LagLocked(Clock::time_point now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The lease frame as this asynchronous replica gets it: with its lag.
  std::shared_ptr<OutgoingFrame> WithLagReportLocked(const OutgoingFrame& lease,
                                                     Clock::time_point now) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // An asynchronous replica under the throttle policy.
  bool ThrottledLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool OverLagLocked(Clock::time_point now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const uint32_t slot_;
  // A member's role never changes in place (SetMembers refuses it): read
  // without the lock on every write and acknowledgement.
  const bool async_;
  const PeerLinkOptions opts_;
  syncblock::Clock* const clock_;
  const std::shared_ptr<Dialer> dialer_;
  Delegate* const delegate_;

  mutable Mutex mu_;
  CondVar changed_;    // queue, session, room, checksum reply
  MemberInfo member_;  // node_id is never changed
  std::unique_ptr<DirtyBitmap> bitmap_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool streaming_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t session_ ABSL_GUARDED_BY(mu_) = 0;
  int fd_ ABSL_GUARDED_BY(mu_) = -1;
  // The connection in its handshake (TLS, hello): Stop() shuts it down
  // rather than wait out a peer that does not answer.
  int dialing_fd_ ABSL_GUARDED_BY(mu_) = -1;
  PeerState state_ ABSL_GUARDED_BY(mu_) = PeerState::kOffline;
  std::string message_ ABSL_GUARDED_BY(mu_);
  absl::Status refusal_ ABSL_GUARDED_BY(mu_);
  uint64_t acked_seq_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t resync_done_seq_ ABSL_GUARDED_BY(mu_) = 0;
  bool needs_full_ ABSL_GUARDED_BY(mu_) = false;
  // A frame and the bytes it was counted for in pipeline_bytes_ (a reserved
  // frame gets its payload after it was queued).
  struct Queued {
    std::shared_ptr<OutgoingFrame> frame;
    uint64_t bytes;
    Clock::time_point at;  // queued (an asynchronous replica's lag)
  };
  std::deque<Queued> queue_ ABSL_GUARDED_BY(mu_);
  std::deque<Queued> unacked_ ABSL_GUARDED_BY(mu_);
  uint64_t pipeline_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  Clock::time_point last_progress_ ABSL_GUARDED_BY(mu_);
  std::optional<std::string> checksum_reply_ ABSL_GUARDED_BY(mu_);
  ResyncProgress resync_ ABSL_GUARDED_BY(mu_);
  AsyncPolicy async_policy_ ABSL_GUARDED_BY(mu_);
  // Since when it has not been in sync (the link's start for a new one).
  Clock::time_point out_of_sync_since_ ABSL_GUARDED_BY(mu_);
  int lag_waiters_ ABSL_GUARDED_BY(mu_) = 0;  // writers in WaitForLagWithin
  uint64_t throttled_writes_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread link_thread_;
};

}  // namespace syncblock::repl
