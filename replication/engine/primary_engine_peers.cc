// The primary engine's side of each peer: connecting and saying hello, the
// acknowledgement stream, and resync (dirty regions, full copy, or regions
// found different by checksums).
#include "replication/util/logging.h"
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "replication/engine/primary_engine.h"
#include "replication/engine/primary_engine_state.h"
#include "replication/util/socket.h"
#include "replication/util/status_macros.h"

namespace syncblock::repl {

using Clock = std::chrono::steady_clock;

namespace {

constexpr uint64_t kResyncBatchRegions = 16;       // 1 MiB with 64 KiB regions
constexpr uint64_t kChecksumChunkRegions = 1 << 18;  // 1 MiB of CRCs per request

void Prepare(FrameHeader& h, const char* payload, size_t len) {
  h.payload_len = static_cast<uint32_t>(len);
  h.payload_crc = PayloadCrc(std::string_view(payload ? payload : "", len));
}

// `h` must have been through Prepare with this payload.
absl::Status SendPrepared(int fd, const FrameHeader& h, const char* payload, size_t len) {
  uint8_t header[kFrameHeaderSize];
  EncodeHeader(h, header);
  iovec iov[2] = {{header, kFrameHeaderSize}, {const_cast<char*>(payload), len}};
  return WritevFull(fd, iov, len > 0 ? 2 : 1);
}

absl::StatusOr<std::pair<FrameHeader, std::string>> ReadFrame(int fd) {
  uint8_t header[kFrameHeaderSize];
  RETURN_IF_ERROR(ReadFull(fd, header, sizeof(header)));
  auto h = DecodeHeader(header);
  if (!h.ok()) return h.status();
  std::string payload(h->payload_len, '\0');
  if (h->payload_len > 0) RETURN_IF_ERROR(ReadFull(fd, payload.data(), payload.size()));
  RETURN_IF_ERROR(VerifyPayload(*h, payload));
  return std::make_pair(*h, std::move(payload));
}

}  // namespace

void PrimaryEngine::SyncPeersWithManifestLocked() {
  for (auto& [id, peer] : peers_) {
    if (!manifest_.FindMember(id)) {
      peer->removed = true;
      PeerFailedLocked(*peer, "removed from the volume");
    }
  }
  for (auto it = peers_.begin(); it != peers_.end();) {
    if (it->second->removed) {
      retired_peers_.push_back(std::move(it->second));
      it = peers_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& m : manifest_.members) {
    if (m.node_id == opts_.node_id) continue;
    if (auto it = peers_.find(m.node_id); it != peers_.end()) {
      it->second->member = m;
      continue;
    }
    auto peer = std::make_unique<Peer>();
    peer->member = m;
    uint32_t used = 0;
    for (auto& [id, p] : peers_) used |= 1u << p->slot;
    while (used & (1u << next_slot_)) next_slot_ = (next_slot_ + 1) % 32;
    peer->slot = next_slot_;
    auto bitmap = DirtyBitmap::Open(store_.BitmapPath("peer-" + m.node_id), manifest_.regions());
    if (!bitmap.ok()) {
      spdlog::error("volume {}: bitmap of {}: {}", manifest_.volume_id, m.node_id,
                    bitmap.status().message());
      continue;
    }
    peer->bitmap = *std::move(bitmap);
    peers_.emplace(m.node_id, std::move(peer));
  }
}

void PrimaryEngine::ManifestChanged() {
  std::vector<std::thread> to_join;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    manifest_ = replica_->manifest();
    size_ = manifest_.size_bytes;
    SyncPeersWithManifestLocked();
    for (auto& [id, peer] : peers_) {
      if (!peer->link_thread.joinable()) {
        Peer* p = peer.get();
        p->link_thread = std::thread([this, p] { LinkLoop(p); });
      }
    }
    SendToPeersLocked(FrameType::kManifest, HelloPayloadLocked());
    for (auto& peer : retired_peers_) {
      if (peer->link_thread.joinable()) to_join.push_back(std::move(peer->link_thread));
    }
  }
  for (auto& t : to_join) t.join();
}

void PrimaryEngine::SendToPeersLocked(FrameType type, const std::string& payload) {
  FrameHeader h;
  h.type = type;
  h.epoch = manifest_.epoch;
  h.seq = last_seq_;
  for (auto& [id, peer] : peers_) {
    if (peer->fd < 0) continue;  // it catches up at its next hello
    peer->unacked.push_back({last_seq_, 0, 0, false});
    if (absl::Status s = SendLocked(*peer, h, payload.data(), payload.size()); !s.ok()) {
      PeerFailedLocked(*peer, std::string(s.message()));
    }
  }
}

absl::Status PrimaryEngine::RequestResync(const std::string& node_id, bool full) {
  std::lock_guard<std::mutex> lock(mu_);
  bool found = false;
  for (auto& [id, peer] : peers_) {
    if (!node_id.empty() && id != node_id) continue;
    found = true;
    if (full) {
      RETURN_IF_ERROR(peer->bitmap->MarkAll());
      peer->force_full = true;
    } else {
      const std::string node = id;  // a structured binding cannot be captured (C++17)
      RETURN_IF_ERROR(
          replica_->UpdateManifest([&](Manifest& m) { m.checksum_resync.insert(node); }));
      manifest_.checksum_resync.insert(node);
    }
    // The new hello starts the resync.
    PeerFailedLocked(*peer, full ? "full resync requested" : "verify resync requested");
  }
  if (!found) {
    return absl::NotFoundError(
        absl::StrCat("volume ", manifest_.volume_id, " has no replica on node '", node_id, "'"));
  }
  return absl::OkStatus();
}

std::string PrimaryEngine::HelloPayloadLocked() {
  HelloRequest hello;
  hello.volume_id = manifest_.volume_id;
  hello.epoch = manifest_.epoch;
  hello.primary_node_id = opts_.node_id;
  hello.members = manifest_.members;
  hello.size_bytes = manifest_.size_bytes;
  hello.region_size = manifest_.region_size;
  hello.attributes = manifest_.attributes;
  hello.create_if_missing = true;
  hello.snapshots = snapshots_.Names();
  return EncodeHello(hello);
}

absl::Status PrimaryEngine::SendLocked(Peer& peer, FrameHeader h, const char* payload,
                                       size_t len) {
  Prepare(h, payload, len);
  return SendPreparedLocked(peer, h, payload, len);
}

absl::Status PrimaryEngine::SendPreparedLocked(Peer& peer, const FrameHeader& h,
                                               const char* payload, size_t len) {
  if (peer.fd < 0) return absl::UnavailableError("not connected");
  return SendPrepared(peer.fd, h, payload, len);
}

void PrimaryEngine::PeerFailedLocked(Peer& peer, const std::string& why) {
  if (peer.fd >= 0) {
    // The link thread owns the descriptor and closes it once its reader ends.
    shutdown(peer.fd, SHUT_RDWR);
    peer.fd = -1;
  }
  ++peer.link_id;
  for (const auto& f : peer.unacked) {
    if (f.has_regions) (void)peer.bitmap->Mark(f.first, f.last);
  }
  peer.unacked.clear();
  if (peer.state != PeerState::kOffline) {
    spdlog::warn("volume {}: replica {} is offline: {}", manifest_.volume_id, peer.member.node_id,
                 why);
  }
  peer.state = why.rfind("replica reported", 0) == 0 ? PeerState::kFailed : PeerState::kOffline;
  peer.message = why;
  peer.resync_done_seq = 0;
  peer.checksum_reply.reset();
  peer.snapshot_barriers.clear();
  peer.snapshot_copies_done.clear();
  peer.snapshot_copying.clear();
  cv_.notify_all();
}

bool PrimaryEngine::WaitOrStop(std::unique_lock<std::mutex>& lock, std::chrono::milliseconds d) {
  cv_.wait_for(lock, d, [this] { return stopping_ || fenced_; });
  return !(stopping_ || fenced_);
}

absl::StatusOr<int> PrimaryEngine::Handshake(Peer* peer, HelloReply* reply) {
  std::string payload;
  std::string address;
  {
    std::lock_guard<std::mutex> lock(mu_);
    payload = HelloPayloadLocked();
    address = peer->member.replication_address;
  }
  auto hp = ParseHostPort(address);
  if (!hp.ok()) return hp.status();
  ASSIGN_OR_RETURN(int fd, ConnectTcp(*hp, opts_.connect_timeout));
  SetSendTimeout(fd, opts_.send_timeout);
  SetBufferSizes(fd, 4 << 20);
  // A replica that hangs (rather than dies) must be noticed too.
  SetKeepAlive(fd, opts_.send_timeout);
  // Bound the wait for the reply; the receive loop clears it afterwards.
  timeval tv{static_cast<time_t>(opts_.connect_timeout.count() / 1000 + 5), 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  FrameHeader h;
  h.type = FrameType::kHello;
  Prepare(h, payload.data(), payload.size());
  absl::Status s = SendPrepared(fd, h, payload.data(), payload.size());
  absl::StatusOr<std::pair<FrameHeader, std::string>> frame =
      s.ok() ? ReadFrame(fd) : absl::StatusOr<std::pair<FrameHeader, std::string>>(s);
  if (!frame.ok() || frame->first.type != FrameType::kHelloReply) {
    close(fd);
    return absl::UnavailableError(absl::StrCat(
        "hello to ", address, " failed: ",
        frame.ok() ? "unexpected frame" : std::string(frame.status().message())));
  }
  auto decoded = DecodeHelloReply(frame->second);
  if (!decoded.ok()) {
    close(fd);
    return decoded.status();
  }
  *reply = *decoded;
  if (reply->status != WireStatus::kOk) {
    close(fd);
    return absl::FailedPreconditionError(absl::StrCat("replica at ", address, " refused: ",
                                                      reply->message));
  }
  timeval none{0, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
  return fd;
}

void PrimaryEngine::LinkLoop(Peer* peer) {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_ && !fenced_ && !peer->removed) {
    lock.unlock();
    HelloReply reply;
    absl::StatusOr<int> fd = Handshake(peer, &reply);
    lock.lock();
    if (stopping_ || fenced_ || peer->removed) {
      if (fd.ok()) close(*fd);
      break;
    }
    if (!fd.ok()) {
      if (reply.status == WireStatus::kStaleEpoch) {
        std::vector<std::shared_ptr<IoRequest>> done;
        FenceLocked(absl::FailedPreconditionError(absl::StrCat(
                        "volume ", manifest_.volume_id, ": replica ", peer->member.node_id,
                        " is at epoch ", reply.epoch, ", newer than this primary's ",
                        manifest_.epoch)),
                    &done);
        lock.unlock();
        Finish(done);
        if (opts_.on_role_change) opts_.on_role_change(manifest_.volume_id, false);
        return;
      }
      if (peer->message != fd.status().message()) {
        spdlog::info("volume {}: replica {}: {}", manifest_.volume_id, peer->member.node_id,
                     fd.status().message());
      }
      peer->message = std::string(fd.status().message());
      WaitOrStop(lock, opts_.reconnect_interval);
      continue;
    }
    peer->fd = *fd;
    uint64_t link_id = ++peer->link_id;
    peer->state = PeerState::kResyncing;
    peer->message.clear();
    peer->generation = reply.data_generation;
    peer->accepted = true;
    auto expected = manifest_.member_generations.find(peer->member.node_id);
    peer->resync_full = peer->force_full || expected == manifest_.member_generations.end() ||
                        expected->second != reply.data_generation;
    peer->resync_checksum =
        !peer->resync_full && manifest_.checksum_resync.count(peer->member.node_id) > 0;
    if (peer->resync_full) (void)peer->bitmap->MarkAll();
    for (uint64_t r : reply.dirty_hint) (void)peer->bitmap->Mark(r, r);
    PeerSnapshotsLocked(*peer, reply.snapshots);
    spdlog::info("volume {}: replica {} connected ({}), {} bytes to resync", manifest_.volume_id,
                 peer->member.node_id,
                 peer->resync_full ? "full copy" : (peer->resync_checksum ? "verify" : "dirty"),
                 peer->bitmap->count() * manifest_.region_size);
    std::vector<std::shared_ptr<IoRequest>> resubmit;
    MaybeActivateLocked(&resubmit);
    peer->resync_thread = std::thread([this, peer, link_id] { ResyncLoop(peer, link_id); });
    lock.unlock();
    for (auto& req : resubmit) Submit(std::move(req));
    ReceiveLoop(peer, *fd, link_id);
    lock.lock();
    if (peer->link_id == link_id) PeerFailedLocked(*peer, "connection lost");
    close(*fd);
    std::thread resync = std::move(peer->resync_thread);
    lock.unlock();
    if (resync.joinable()) resync.join();
    lock.lock();
    WaitOrStop(lock, opts_.reconnect_interval);
  }
}

void PrimaryEngine::ReceiveLoop(Peer* peer, int fd, uint64_t link_id) {
  while (true) {
    auto frame = ReadFrame(fd);
    if (!frame.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      if (peer->link_id == link_id) {
        PeerFailedLocked(*peer, std::string(frame.status().message()));
      }
      return;
    }
    OnAck(peer, link_id, frame->first, std::move(frame->second));
    std::lock_guard<std::mutex> lock(mu_);
    if (peer->link_id != link_id) return;
  }
}

void PrimaryEngine::OnAck(Peer* peer, uint64_t link_id, const FrameHeader& h,
                          std::string payload) {
  std::vector<std::shared_ptr<IoRequest>> done;
  bool fenced_now = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (peer->link_id != link_id) return;
    if (h.type == FrameType::kChecksumReply) {
      peer->checksum_reply = std::move(payload);
      cv_.notify_all();
      return;
    }
    if (h.type != FrameType::kAck) {
      PeerFailedLocked(*peer, absl::StrCat("unexpected ", FrameTypeName(h.type), " frame"));
      return;
    }
    auto status = static_cast<WireStatus>(h.status);
    if (status == WireStatus::kStaleEpoch) {
      FenceLocked(absl::FailedPreconditionError(
                      absl::StrCat("volume ", manifest_.volume_id, ": replica ",
                                   peer->member.node_id, " refused epoch ", manifest_.epoch, ": ",
                                   payload)),
                  &done);
      fenced_now = true;
    } else if (status != WireStatus::kOk) {
      PeerFailedLocked(*peer, absl::StrCat("replica reported: ", payload));
    } else {
      while (!peer->unacked.empty() && peer->unacked.front().seq <= h.seq) {
        peer->unacked.pop_front();
      }
      peer->acked_seq = h.seq;
      auto acked_type = static_cast<FrameType>(h.length);
      if (OnSnapshotAckLocked(*peer, h)) {
        // A snapshot frame: recorded in the registry.
      } else if (acked_type == FrameType::kResyncDone && peer->state == PeerState::kResyncing &&
          h.seq == peer->resync_done_seq) {
        peer->state = PeerState::kInSync;
        peer->force_full = false;
        (void)peer->bitmap->ClearAll();
        const std::string& id = peer->member.node_id;
        if (manifest_.member_generations[id] != peer->generation ||
            manifest_.checksum_resync.count(id)) {
          std::string gen = peer->generation;
          absl::Status s = replica_->UpdateManifest([&](Manifest& m) {
            m.member_generations[id] = gen;
            m.checksum_resync.erase(id);
          });
          if (!s.ok()) spdlog::error("volume {}: manifest: {}", manifest_.volume_id, s.message());
          manifest_.member_generations[id] = gen;
          manifest_.checksum_resync.erase(id);
        }
        spdlog::info("volume {}: replica {} is in sync ({} bytes resynced)", manifest_.volume_id,
                     id, peer->resync_copied);
        // It holds every write up to the resync's end.
        for (auto& [seq, p] : pending_) {
          if (seq <= h.seq) p.acked_slots |= 1u << peer->slot;
        }
        CompleteReadyLocked(&done);
      } else if (peer->state == PeerState::kInSync) {
        if (auto it = pending_.find(h.seq); it != pending_.end()) {
          it->second.acked_slots |= 1u << peer->slot;
          CompleteIfReadyLocked(h.seq, &done);
        }
      }
    }
  }
  Finish(done);
  if (fenced_now && opts_.on_role_change) opts_.on_role_change(replica_->id(), false);
}

absl::Status PrimaryEngine::MarkByChecksumsLocked(Peer* peer, uint64_t link_id,
                                                  std::unique_lock<std::mutex>& lock) {
  uint64_t regions = manifest_.regions();
  uint64_t region_size = manifest_.region_size;
  uint64_t size = size_.load();
  for (uint64_t first = 0; first < regions; first += kChecksumChunkRegions) {
    uint64_t count = std::min(kChecksumChunkRegions, regions - first);
    // Our checksums first, then the peer's: the peer also receives every live
    // write meanwhile, so a region that matches then stays matching.
    lock.unlock();
    std::vector<uint32_t> local(count);
    absl::Status s;
    for (uint64_t i = 0; i < count && s.ok(); ++i) {
      uint64_t off = (first + i) * region_size;
      auto crc = store_.Checksum(off, std::min(region_size, size - off));
      if (crc.ok()) local[i] = *crc;
      else s = crc.status();
    }
    lock.lock();
    RETURN_IF_ERROR(s);
    if (peer->link_id != link_id) return absl::AbortedError("connection lost");
    FrameHeader h;
    h.type = FrameType::kChecksumRequest;
    h.epoch = manifest_.epoch;
    h.seq = last_seq_;
    h.offset = first;
    h.length = static_cast<uint32_t>(count);
    peer->checksum_reply.reset();
    RETURN_IF_ERROR(SendLocked(*peer, h, nullptr, 0));
    cv_.wait_for(lock, std::chrono::minutes(5), [&] {
      return stopping_ || fenced_ || peer->link_id != link_id || peer->checksum_reply.has_value();
    });
    if (peer->link_id != link_id || !peer->checksum_reply) {
      return absl::AbortedError("no checksum reply");
    }
    const std::string& remote = *peer->checksum_reply;
    if (remote.size() != count * 4) return absl::DataLossError("checksum reply of wrong size");
    for (uint64_t i = 0; i < count; ++i) {
      uint32_t v;
      std::memcpy(&v, remote.data() + i * 4, 4);
      if (v != local[i]) RETURN_IF_ERROR(peer->bitmap->Mark(first + i, first + i));
    }
  }
  return absl::OkStatus();
}

void PrimaryEngine::ResyncLoop(Peer* peer, uint64_t link_id) {
  std::unique_lock<std::mutex> lock(mu_);
  auto live = [&] { return !stopping_ && !fenced_ && peer->link_id == link_id; };
  if (peer->resync_checksum) {
    absl::Status s = MarkByChecksumsLocked(peer, link_id, lock);
    if (!s.ok()) {
      if (live()) PeerFailedLocked(*peer, absl::StrCat("checksum comparison: ", s.message()));
      return;
    }
  }
  uint64_t region_size = manifest_.region_size;
  peer->resync_total = std::min(peer->bitmap->count() * region_size, size_.load());
  peer->resync_copied = 0;
  peer->resync_start = Clock::now();
  uint64_t data_sent = 0;
  uint64_t cursor = 0;
  std::string buf;
  while (live()) {
    auto r = peer->bitmap->NextSet(cursor);
    if (!r) break;
    uint64_t k = 1;
    while (k < kResyncBatchRegions && peer->bitmap->Test(*r + k)) ++k;
    uint64_t size = size_.load();
    uint64_t offset = *r * region_size;
    if (offset >= size) break;
    uint64_t len = std::min(k * region_size, size - offset);
    FrameHeader h;
    h.epoch = manifest_.epoch;
    h.seq = last_seq_;
    h.offset = offset;
    h.length = static_cast<uint32_t>(len);
    absl::Status s;
    if (store_.IsHole(offset, len)) {
      h.type = FrameType::kResyncZero;
      peer->unacked.push_back({h.seq, *r, *r + k - 1, true});
      s = SendLocked(*peer, h, nullptr, 0);
    } else {
      h.type = FrameType::kResyncData;
      buf.resize(len);
      s = store_.Read(offset, buf.data(), len);
      if (s.ok()) {
        peer->unacked.push_back({h.seq, *r, *r + k - 1, true});
        s = SendLocked(*peer, h, buf.data(), len);
      }
      data_sent += len;
    }
    if (!s.ok()) {
      PeerFailedLocked(*peer, absl::StrCat("resync: ", s.message()));
      return;
    }
    cursor = *r + k;
    peer->resync_copied += len;
    if (opts_.resync_rate > 0) {
      // Keep to the rate so that client IO keeps most of the bandwidth.
      auto due = peer->resync_start + std::chrono::microseconds(static_cast<uint64_t>(
                                          data_sent * 1e6 / static_cast<double>(opts_.resync_rate)));
      if (due > Clock::now()) {
        cv_.wait_until(lock, due, [&] { return !live(); });
      }
    }
  }
  if (!live()) return;
  FrameHeader done;
  done.type = FrameType::kResyncDone;
  done.epoch = manifest_.epoch;
  done.seq = last_seq_;
  peer->resync_done_seq = last_seq_;
  peer->unacked.push_back({last_seq_, 0, 0, false});
  if (absl::Status s = SendLocked(*peer, done, nullptr, 0); !s.ok()) {
    PeerFailedLocked(*peer, absl::StrCat("resync: ", s.message()));
    return;
  }
  // Its live data is now at the stream's point, but not at the points of the
  // snapshots cut while it was away: those it gets as full copies.
  CopySnapshotsLocked(peer, link_id, lock);
}

}  // namespace syncblock::repl
