#include "replication/engine/replication_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "replication/engine/link_security.h"
#include "replication/types/removed_members.h"
#include "replication/util/logging.h"
#include "replication/util/status_macros.h"
#include "replication/util/wipe.h"
#include "replication/wire/frame_io.h"
#include "replication/wire/hello.h"
#include "replication/wire/wire_format.h"

namespace syncblock::repl {
namespace {

// A hello lists the volume's snapshots (at most kMaxSnapshotsPerVolume names
// of at most 128 bytes), which bounds it well below this.
constexpr uint32_t kMaxHelloPayload = 1024 * 1024;
// Acknowledgements buffered before they are sent even while frames keep coming.
constexpr size_t kAckBatchBytes = 64 << 10;

// The peer's address without its port (a reconnecting peer logs the same
// line, which the log's rate limit then folds).
std::string PeerHost(const sockaddr_storage& ss) {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (ss.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr, buf, sizeof buf);
  } else if (ss.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr, buf, sizeof buf);
  }
  return buf;
}

void SetReceiveTimeout(int fd, std::chrono::milliseconds t) {
  timeval tv{static_cast<time_t>(t.count() / 1000),
             static_cast<suseconds_t>((t.count() % 1000) * 1000)};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

}  // namespace

ReplicationServer::~ReplicationServer() { Stop(); }

absl::Status ReplicationServer::Listen(const HostPort& addr) {
  auto fd = ListenTcp(addr);
  if (!fd.ok()) return fd.status();
  listen_fd_ = *fd;
  port_ = LocalPort(listen_fd_);
  accept_thread_ = std::thread([this] { AcceptLoop(); });
  return absl::OkStatus();
}

void ReplicationServer::Stop() {
  if (stopping_.exchange(true)) return;
  if (listen_fd_ >= 0) shutdown(listen_fd_, SHUT_RDWR);
  if (accept_thread_.joinable()) accept_thread_.join();
  if (listen_fd_ >= 0) close(listen_fd_);
  std::vector<Connection> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int fd : conns_) shutdown(fd, SHUT_RDWR);
    threads.swap(threads_);
  }
  for (auto& c : threads) c.thread.join();
}

void ReplicationServer::ReapLocked() {
  for (auto it = threads_.begin(); it != threads_.end();) {
    if (it->done->load()) {
      it->thread.join();  // it has returned: no wait
      it = threads_.erase(it);
    } else {
      ++it;
    }
  }
}

void ReplicationServer::AcceptLoop() {
  while (!stopping_) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    int fd = accept4(listen_fd_, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_CLOEXEC);
    if (fd < 0) {
      if (stopping_) return;
      if (errno == EINTR || errno == ECONNABORTED) continue;
      spdlog::error("replication: accept: {}", std::strerror(errno));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    SetBufferSizes(fd, 4 << 20);
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      close(fd);
      return;
    }
    ReapLocked();
    conns_.insert(fd);
    auto done = std::make_shared<std::atomic<bool>>(false);
    std::string from = PeerHost(ss);
    threads_.push_back({std::thread([this, fd, from, done] {
                          Serve(fd, from);
                          done->store(true);
                        }),
                        done});
  }
}

void ReplicationServer::Serve(int fd, const std::string& from) {
  std::string peer_desc = absl::StrCat("replication peer at ", from);
  auto fail = [&](const std::string& why) {
    frames_rejected_.fetch_add(1);
    spdlog::warn("{}: {}; closing the connection", peer_desc, why);
  };
  auto finish = [&] {
    std::lock_guard<std::mutex> lock(mu_);
    conns_.erase(fd);
    close(fd);
  };
  // The handshake and the hello are bounded: a peer that connects and says
  // nothing (frozen, or not speaking our protocol) goes away.
  SetReceiveTimeout(fd, opts_.handshake_timeout);
  absl::StatusOr<std::unique_ptr<security::ByteStream>> opened =
      AcceptedStream(fd, opts_.tls.get(), opts_.handshake_timeout);
  if (!opened.ok()) {
    connections_refused_.fetch_add(1);
    if (!stopping_)
      spdlog::warn("replication: connection from {} refused: {}", from, opened.status().message());
    finish();
    return;
  }
  security::ByteStream& stream = **opened;
  if (const security::PeerIdentity* peer = stream.peer()) {
    peer_desc = absl::StrCat("replication peer ", peer->name, " at ", from);
  }

  FrameHeader h;
  std::string payload;
  WipeOnExit wipe_payload(payload);  // the hello may hold the volume's data key
  std::shared_ptr<Replica> replica;
  uint64_t session = 0;
  // Until a hello is accepted, a connection may not make this node buffer a
  // large payload: hellos are small.
  Frame first;
  absl::Status s = ReadFrame(stream, &first, kMaxHelloPayload);
  if (s.ok() && first.header.type != FrameType::kHello) {
    s = absl::InvalidArgumentError("the first frame must be a hello of at most 1 MiB");
  }
  if (s.ok()) payload = std::move(first.payload);
  absl::StatusOr<HelloRequest> hello =
      s.ok() ? DecodeHello(payload) : absl::StatusOr<HelloRequest>(s);
  if (!hello.ok()) {
    if (hello.status().code() != absl::StatusCode::kUnavailable)
      fail(std::string(hello.status().message()));
  } else {
    peer_desc = absl::StrCat("volume ", hello->volume_id, " from primary ", hello->primary_node_id);
    HelloReply reply;
    replica = registry_->FindReplica(hello->volume_id);
    std::optional<Manifest> local;
    if (replica) local = replica->manifest();
    absl::Status admitted = AdmitPrimary(stream.peer(), *hello, local ? &*local : nullptr);
    if (!admitted.ok()) {
      // Said to the peer (its primary shows it in `volume show`) and logged.
      connections_refused_.fetch_add(1);
      replica.reset();
      // A primary the volume moved past, removed (a promotion that accepted
      // data loss, at any epoch) or of an older lineage is told its epoch is
      // stale, so that it fences itself; never one of a newer lineage. Not a
      // member refused for its certificate: a misconfigured certificate must
      // not fence a primary.
      const std::string& primary = hello->primary_node_id;
      const bool member =
          local && (local->FindMember(primary) || local->primary_node_id == primary);
      const bool newer_lineage =
          local && RemovedVersion(hello->attributes) > RemovedVersion(local->attributes);
      const bool stale = local && !newer_lineage &&
                         ((!member && local->epoch > hello->epoch) ||
                          SpeaksForAnOlderVolume(local->attributes, primary, hello->attributes));
      reply.status = stale ? WireStatus::kStaleEpoch : WireStatus::kInvalid;
      reply.epoch = local ? local->epoch : 0;
      reply.message = absl::StrCat("node refuses the connection: ", admitted.message());
      spdlog::warn("replication: connection from {} refused: {}", from, admitted.message());
    } else if (!replica && hello->create_if_missing) {
      auto created = registry_->CreateReplicaFor(*hello);
      if (created.ok()) {
        replica = *created;
      } else {
        reply.status = WireStatus::kNotFound;
        reply.message = std::string(created.status().message());
      }
    } else if (!replica) {
      reply.status = WireStatus::kNotFound;
      reply.message = absl::StrCat("no replica of volume ", hello->volume_id, " here");
    }
    if (replica) reply = replica->AcceptHello(*hello, &session);
    FrameHeader rh;
    rh.type = FrameType::kHelloReply;
    rh.epoch = reply.epoch;
    if (!WriteFrame(stream, rh, EncodeHelloReply(reply)).ok() || reply.status != WireStatus::kOk) {
      if (reply.status != WireStatus::kOk && admitted.ok())
        spdlog::info("{}: refused: {}", peer_desc, reply.message);
      replica.reset();
    }
  }
  if (replica && !hello->data_key.empty()) {
    if (stream.peer() == nullptr) {
      // Never sent so by our primaries; whoever did has shown it to the network.
      spdlog::error("{}: a data key over a plaintext connection: ignored", peer_desc);
    } else if (opts_.on_data_key) {
      opts_.on_data_key(hello->volume_id, hello->primary_node_id, hello->data_key);
    }
  }
  if (hello.ok()) WipeString(hello->data_key);
  // The primary may stay quiet for long between frames: no timeout now.
  if (replica) SetReceiveTimeout(fd, std::chrono::milliseconds(0));

  // Acknowledgements are sent together once no further frame is buffered:
  // one send for a burst of small writes.
  FrameReader reader(stream);
  std::string acks;
  Frame frame;
  while (replica && !stopping_) {
    if (!acks.empty() && (!reader.HasFrame() || acks.size() >= kAckBatchBytes)) {
      if (!WriteBytes(stream, acks).ok()) break;
      acks.clear();
    }
    s = reader.Next(&frame);
    h = frame.header;
    payload = std::move(frame.payload);
    if (!s.ok()) {
      // A closed connection is the normal end; anything else is bad input.
      if (s.code() != absl::StatusCode::kUnavailable) fail(std::string(s.message()));
      break;
    }
    std::string reply_payload;
    std::string error;
    WireStatus status = replica->Apply(session, h, payload, &reply_payload, &error);
    FrameHeader ack;
    ack.epoch = h.epoch;
    ack.seq = h.seq;
    if (status == WireStatus::kOk && h.type == FrameType::kChecksumRequest) {
      ack.type = FrameType::kChecksumReply;
      acks += EncodeFrame(ack, reply_payload);
    } else {
      ack.type = FrameType::kAck;
      ack.status = static_cast<uint32_t>(status);
      ack.length = static_cast<uint32_t>(h.type);  // what is acknowledged
      if (status != WireStatus::kOk) {
        spdlog::warn("{}: {} seq {} refused: {}", peer_desc, FrameTypeName(h.type), h.seq, error);
      }
      acks += EncodeFrame(ack, error);
    }
    if (status == WireStatus::kStaleEpoch) break;
  }
  if (!acks.empty()) (void)WriteBytes(stream, acks);  // best effort: closing
  stream.Close();
  opened->reset();
  finish();
}

}  // namespace syncblock::repl
