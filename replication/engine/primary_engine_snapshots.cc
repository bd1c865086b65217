// The primary engine's snapshots (delegated to its SnapshotCoordinator) and
// online growth of the volume.
#include "absl/strings/str_cat.h"
#include "replication/engine/primary_engine.h"
#include "replication/util/logging.h"
#include "replication/util/status_macros.h"

namespace syncblock::repl {

absl::StatusOr<SnapshotView> PrimaryEngine::CreateSnapshot(const std::string& name) {
  RETURN_IF_ERROR(WaitActive(absl::FromChrono(opts_.io_timeout)));
  return snapshots_->Create(name);
}

absl::Status PrimaryEngine::DeleteSnapshot(const std::string& name) {
  {
    MutexLock l(&mu_);
    if (fenced_) return fence_reason_;
  }
  return snapshots_->Delete(name);
}

absl::Status PrimaryEngine::HoldWrites(const std::string& id, std::chrono::milliseconds max) {
  // Under mu_, so that Fence (which sets fenced_ under it, then releases
  // every hold) cannot miss a hold placed in between.
  MutexLock l(&mu_);
  if (fenced_) return fence_reason_;
  return write_hold_.Hold(id, max);
}

HoldRelease PrimaryEngine::ReleaseWrites(const std::string& id) { return write_hold_.Release(id); }

std::vector<SnapshotView> PrimaryEngine::Snapshots() { return snapshots_->List(); }

absl::StatusOr<SnapshotView> PrimaryEngine::GetSnapshot(const std::string& name) {
  return snapshots_->Get(name);
}

absl::Status PrimaryEngine::Expand(uint64_t size_bytes) {
  Manifest grown;
  std::vector<std::shared_ptr<PeerLink>> links;
  {
    MutexLock l(&mu_);
    if (fenced_) return fence_reason_;
    grown = manifest_;
    for (auto& [id, link] : peers_) links.push_back(link);
  }
  uint64_t current = size_.load();
  if (size_bytes < current) {
    return absl::InvalidArgumentError(absl::StrCat("volume ", grown.volume_id, " is ", current,
                                                   " bytes; it cannot shrink to ", size_bytes));
  }
  if (size_bytes == current) return absl::OkStatus();
  grown.size_bytes = size_bytes;
  // A barrier: no write is applied while the files grow, and the new size is
  // in the stream ahead of any write past the old end (those are refused
  // until size_ changes below).
  auto frame = std::make_shared<OutgoingFrame>();
  frame->header.type = FrameType::kManifest;
  frame->header.epoch = epoch_;
  frame->state = OutgoingFrame::kReserved;
  std::shared_ptr<const LinkList> stream = Links();
  LinkList to;
  uint64_t seq = sequencer_->Sequence(WriteSequencer::Kind::kBarrier, 0, 0, [&](uint64_t s) {
    frame->header.seq = s;
    // A peer not connected grows at its next hello.
    for (const auto& link : *stream) {
      if (link->Enqueue(frame)) to.push_back(link);
    }
  });
  sequencer_->WaitTurn(seq);
  absl::Status s = activity_->Grow(grown.regions());
  for (size_t i = 0; s.ok() && i < links.size(); ++i) {
    s = links[i]->GrowBitmap(store_.BitmapPath("peer-" + links[i]->node_id()), grown.regions());
  }
  if (s.ok()) s = store_.Resize(size_bytes);
  if (s.ok()) s = replica_->UpdateManifest([&](Manifest& m) { m.size_bytes = size_bytes; });
  std::string hello;
  if (s.ok()) {
    MutexLock l(&mu_);
    manifest_.size_bytes = size_bytes;
    hello = EncodeHello(HelloLocked());
  }
  if (s.ok()) {
    frame->SetPayload(std::make_shared<const std::string>(std::move(hello)));
    frame->Encode();
    size_ = size_bytes;
    frame->state.store(OutgoingFrame::kReady, std::memory_order_release);
  } else {
    frame->state.store(OutgoingFrame::kCancelled, std::memory_order_release);
  }
  sequencer_->Applied(seq);
  for (const auto& link : to) link->Wake();
  RETURN_IF_ERROR(s);
  spdlog::info("volume {}: grown from {} to {} bytes", grown.volume_id, current, size_bytes);
  return absl::OkStatus();
}

}  // namespace syncblock::repl
