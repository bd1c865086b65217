#include "replication/engine/replication_server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "replication/util/logging.h"
#include "replication/util/status_macros.h"
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

absl::Status Send(int fd, FrameHeader h, std::string_view payload) {
  return WriteFrame(fd, h, payload);
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
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int fd : conns_) shutdown(fd, SHUT_RDWR);
    threads.swap(threads_);
  }
  for (auto& t : threads) t.join();
}

void ReplicationServer::AcceptLoop() {
  while (!stopping_) {
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
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
    conns_.insert(fd);
    threads_.emplace_back([this, fd] { Serve(fd); });
  }
}

void ReplicationServer::Serve(int fd) {
  std::string peer_desc = "replication peer";
  auto fail = [&](const std::string& why) {
    frames_rejected_.fetch_add(1);
    spdlog::warn("{}: {}; closing the connection", peer_desc, why);
  };
  FrameHeader h;
  std::string payload;
  std::shared_ptr<Replica> replica;
  uint64_t session = 0;
  // Until a hello is accepted, a connection may not make this node buffer a
  // large payload: hellos are small.
  Frame first;
  absl::Status s = ReadFrame(fd, &first, kMaxHelloPayload);
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
    if (!replica && hello->create_if_missing) {
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
    if (!Send(fd, rh, EncodeHelloReply(reply)).ok() || reply.status != WireStatus::kOk) {
      if (reply.status != WireStatus::kOk)
        spdlog::info("{}: refused: {}", peer_desc, reply.message);
      replica.reset();
    }
  }

  // Acknowledgements are sent together once no further frame is buffered:
  // one send for a burst of small writes.
  FrameReader reader(fd);
  std::string acks;
  Frame frame;
  while (replica && !stopping_) {
    if (!acks.empty() && (!reader.HasFrame() || acks.size() >= kAckBatchBytes)) {
      if (!WriteFull(fd, acks.data(), acks.size()).ok()) break;
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
  if (!acks.empty()) (void)WriteFull(fd, acks.data(), acks.size());  // best effort: closing
  std::lock_guard<std::mutex> lock(mu_);
  conns_.erase(fd);
  close(fd);
}

}  // namespace syncblock::repl
