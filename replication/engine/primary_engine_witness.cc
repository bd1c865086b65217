// The primary engine's side of its volume's witness (failover.md,
// "Witness"): which data replicas it records as outdated, and what the
// quorum tracker may count on.
#include "replication/engine/primary_engine.h"
#include "replication/util/logging.h"

namespace syncblock::repl {

void PrimaryEngine::SetPeerSlotsLocked(Completions* done) {
  uint32_t data = 0, witness = 0;
  std::string witness_id;
  for (const auto& [id, link] : peers_) {
    if (link->witness()) {
      witness |= 1u << link->slot();
      witness_id = id;
    } else if (!link->async()) {
      data |= 1u << link->slot();
    }
  }
  if (witness_id != witness_id_) {
    // A record the old witness held says nothing of what the new one holds.
    witness_record_.Reset();
    witness_id_ = witness_id;
    quorum_.SetOutdated(0, done);
  }
  quorum_.SetPeerSlots(data, witness);
}

uint32_t PrimaryEngine::CountableOutdatedLocked() const {
  uint32_t slots = 0;
  for (const auto& id : witness_record_.confirmed()) {
    auto it = peers_.find(id);
    if (it != peers_.end() && it->second->state() != PeerState::kInSync) {
      slots |= 1u << it->second->slot();
    }
  }
  return slots;
}

std::set<std::string> PrimaryEngine::WitnessRecordLocked(Completions* done) {
  std::set<std::string> record;
  std::vector<std::string> in_sync;
  for (const auto& [id, link] : peers_) {
    // The witness stands in for synchronous replicas only.
    if (link->witness() || link->async()) continue;
    if (link->state() == PeerState::kInSync) {
      in_sync.push_back(id);
    } else {
      record.insert(id);
    }
  }
  // A peer back in sync acknowledges what it gets from now on: the witness
  // stops standing in for it at once...
  quorum_.SetOutdated(CountableOutdatedLocked(), done);
  // ...but requests completed until now with the witness in its place may
  // still be on their way to it (the record goes down another connection).
  // It leaves the record once it acknowledged everything sent so far.
  const uint64_t last = sequencer_->last_seq();
  std::erase_if(in_sync_hold_, [&](const auto& e) {
    auto it = peers_.find(e.first);
    return it == peers_.end() || it->second->state() != PeerState::kInSync;
  });
  for (const auto& id : in_sync) {
    auto hold = in_sync_hold_.try_emplace(id, last).first;
    if (hold->second == 0) continue;
    if (peers_.at(id)->GetView().acked_seq >= hold->second) {
      hold->second = 0;
      continue;
    }
    record.insert(id);
  }
  return record;
}

void PrimaryEngine::UpdateWitness(bool resend) {
  Completions done;
  {
    MutexLock l(&mu_);
    if (stopping_ || fenced_ || !started_ || witness_id_.empty()) return;
    auto witness = peers_.find(witness_id_);
    if (witness == peers_.end()) return;
    std::set<std::string> outdated = WitnessRecordLocked(&done);
    if (witness_record_.ShouldSend(outdated, resend)) {
      auto frame = std::make_shared<OutgoingFrame>();
      frame->header.type = FrameType::kWitnessRecord;
      frame->header.epoch = epoch_;
      frame->SetPayload(std::make_shared<const std::string>(EncodeOutdated(outdated)));
      const std::shared_ptr<PeerLink> link = witness->second;
      sequencer_->Sequence(WriteSequencer::Kind::kControl, 0, 0, [&](uint64_t s) {
        frame->header.seq = s;
        frame->Encode();
        witness_record_.Sent(s, outdated);
        // Not connected: sent again when it is (Connected resends).
        link->Enqueue(frame);
      });
      quorum_.SetOutdated(CountableOutdatedLocked(), &done);
    }
  }
  RunCompletions(done);
}

void PrimaryEngine::WitnessRecorded(uint64_t seq) {
  Completions done;
  {
    MutexLock l(&mu_);
    if (!witness_record_.Acked(seq)) return;
    if (!witness_record_.confirmed().empty()) {
      spdlog::warn(
          "volume {}: the witness {} records {} replica(s) as outdated; writes go on "
          "without them",
          manifest_.volume_id, witness_id_, witness_record_.confirmed().size());
    }
    quorum_.SetOutdated(CountableOutdatedLocked(), &done);
  }
  RunCompletions(done);
}

}  // namespace syncblock::repl
