#include "replication/engine/resyncer.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "replication/util/status_macros.h"

namespace syncblock::repl {

namespace {

constexpr uint64_t kBatchRegions = 16;               // 1 MiB with 64 KiB regions
constexpr uint64_t kChecksumChunkRegions = 1 << 18;  // 1 MiB of CRCs per request

absl::Status Aborted() { return absl::AbortedError("connection lost"); }

}  // namespace

absl::Status Resyncer::SendInOrder(FrameType type, uint64_t offset, uint64_t length,
                                   bool has_regions, uint64_t first_region, uint64_t last_region,
                                   const std::function<absl::Status(OutgoingFrame&)>& fill) {
  auto frame = std::make_shared<OutgoingFrame>();
  frame->header.type = type;
  frame->header.epoch = ctx_.epoch;
  frame->header.offset = offset;
  frame->header.length = static_cast<uint32_t>(length);
  frame->has_regions = has_regions;
  frame->first_region = first_region;
  frame->last_region = last_region;
  frame->state = OutgoingFrame::kReserved;
  bool queued = false;
  auto kind = has_regions ? WriteSequencer::Kind::kWrite : WriteSequencer::Kind::kControl;
  uint64_t seq = ctx_.sequencer->Sequence(kind, offset, length, [&](uint64_t s) {
    frame->header.seq = s;
    queued = link_.streaming(session_) && link_.Enqueue(frame);
  });
  absl::Status s;
  if (queued) {
    if (kind != WriteSequencer::Kind::kControl) ctx_.sequencer->WaitTurn(seq);
    s = fill(*frame);
  }
  if (kind != WriteSequencer::Kind::kControl) ctx_.sequencer->Applied(seq);
  if (!queued) return Aborted();
  if (s.ok()) {
    frame->Encode();
    frame->state.store(OutgoingFrame::kReady, std::memory_order_release);
  } else {
    frame->state.store(OutgoingFrame::kCancelled, std::memory_order_release);
  }
  link_.Wake();
  return s;
}

absl::Status Resyncer::MarkByChecksums() {
  uint64_t region_size = ctx_.region_size;
  uint64_t size = ctx_.size();
  uint64_t regions = (size + region_size - 1) / region_size;
  for (uint64_t first = 0; first < regions; first += kChecksumChunkRegions) {
    uint64_t count = std::min(kChecksumChunkRegions, regions - first);
    // Ours first, then the peer's: the peer receives every live write
    // meanwhile, so a region that matches then stays matching.
    std::vector<uint32_t> local(count);
    for (uint64_t i = 0; i < count; ++i) {
      uint64_t off = (first + i) * region_size;
      ASSIGN_OR_RETURN(local[i], ctx_.store->Checksum(off, std::min(region_size, size - off)));
    }
    auto frame = std::make_shared<OutgoingFrame>();
    frame->header.type = FrameType::kChecksumRequest;
    frame->header.epoch = ctx_.epoch;
    frame->header.offset = first;
    frame->header.length = static_cast<uint32_t>(count);
    frame->slow = true;
    bool queued = false;
    ctx_.sequencer->Sequence(WriteSequencer::Kind::kControl, 0, 0, [&](uint64_t s) {
      frame->header.seq = s;
      frame->SetPayload(nullptr);
      frame->Encode();
      queued = link_.streaming(session_) && link_.Enqueue(frame);
    });
    if (!queued) return Aborted();
    std::optional<std::string> remote = link_.TakeChecksumReply(session_);
    if (!remote) return Aborted();
    if (remote->size() != count * 4) {
      return absl::DataLossError(
          absl::StrCat("checksum reply of ", remote->size(), " bytes for ", count, " regions"));
    }
    for (uint64_t i = 0; i < count; ++i) {
      uint32_t v;
      std::memcpy(&v, remote->data() + i * 4, 4);
      if (v != local[i]) RETURN_IF_ERROR(link_.MarkDirty(first + i, first + i));
    }
  }
  return absl::OkStatus();
}

absl::Status Resyncer::CopyDirty(ResyncProgress& progress) {
  uint64_t region_size = ctx_.region_size;
  uint64_t cursor = 0;
  uint64_t data_sent = 0;
  while (true) {
    std::optional<uint64_t> r = link_.NextDirty(cursor);
    if (!r) return absl::OkStatus();
    uint64_t k = 1;
    while (k < kBatchRegions && link_.IsDirty(*r + k)) ++k;
    uint64_t size = ctx_.size();
    uint64_t offset = *r * region_size;
    if (offset >= size) return absl::OkStatus();
    uint64_t len = std::min(k * region_size, size - offset);
    if (!link_.WaitForRoom(session_)) return Aborted();
    bool hole = false;
    RETURN_IF_ERROR(SendInOrder(FrameType::kResyncData, offset, len, true, *r, *r + k - 1,
                                [&](OutgoingFrame& f) {
                                  hole = ctx_.store->IsHole(offset, len);
                                  if (hole) {
                                    f.header.type = FrameType::kResyncZero;
                                    f.SetPayload(nullptr);
                                    return absl::OkStatus();
                                  }
                                  auto data = std::make_shared<std::string>(len, '\0');
                                  RETURN_IF_ERROR(ctx_.store->Read(offset, data->data(), len));
                                  f.SetPayload(std::move(data));
                                  return absl::OkStatus();
                                }));
    if (!hole) data_sent += len;
    cursor = *r + k;
    progress.copied += len;
    link_.SetResyncProgress(progress);
    if (ctx_.rate_bytes_per_second > 0) {
      // Keep to the rate so that client IO keeps most of the bandwidth.
      auto due = progress.start + std::chrono::microseconds(static_cast<uint64_t>(
                                      data_sent * 1e6 / ctx_.rate_bytes_per_second));
      if (!link_.SleepUntil(session_, due)) return Aborted();
    }
  }
}

absl::Status Resyncer::Run(bool full, bool checksum) {
  ResyncProgress progress;
  progress.full = full;
  progress.checksum = checksum;
  progress.start = std::chrono::steady_clock::now();
  link_.SetResyncProgress(progress);
  if (full) RETURN_IF_ERROR(link_.MarkAllDirty());
  if (checksum && !full) RETURN_IF_ERROR(MarkByChecksums());
  progress.total = std::min(link_.DirtyCount() * ctx_.region_size, ctx_.size());
  progress.start = std::chrono::steady_clock::now();
  link_.SetResyncProgress(progress);
  RETURN_IF_ERROR(CopyDirty(progress));
  // The end, in the stream after every write sequenced so far.
  bool queued = false;
  ctx_.sequencer->Sequence(WriteSequencer::Kind::kControl, 0, 0, [&](uint64_t s) {
    auto frame = std::make_shared<OutgoingFrame>();
    frame->header.type = FrameType::kResyncDone;
    frame->header.epoch = ctx_.epoch;
    frame->header.seq = s;
    frame->SetPayload(nullptr);
    frame->Encode();
    // Marked before queueing: the acknowledgement can come back at once.
    link_.SetResyncDone(session_, s);
    queued = link_.streaming(session_) && link_.Enqueue(frame);
  });
  return queued ? absl::OkStatus() : Aborted();
}

}  // namespace syncblock::repl
