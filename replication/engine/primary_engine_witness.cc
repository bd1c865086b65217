// The primary engine's side of its volume's witness (failover.md,
// "Witness"): which data replicas it records as outdated, and what the
// quorum tracker may count on.
#include "replication/engine/primary_engine.h"
#include "replication/util/logging.h"

namespace syncblock::repl {

uint32_t PrimaryEngine::SlotsLocked(const std::set<std::string>& node_ids) const {
  uint32_t slots = 0;
  for (const auto& id : node_ids) {
    if (auto it = peers_.find(id); it != peers_.end()) slots |= 1u << it->second->slot();
  }
  return slots;
}

void PrimaryEngine::SetPeerSlotsLocked(Completions* done) {
  uint32_t data = 0, witness = 0;
  std::string witness_id;
  for (const auto& [id, link] : peers_) {
    if (link->witness()) {
      witness |= 1u << link->slot();
      witness_id = id;
    } else {
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

void PrimaryEngine::UpdateWitness(bool resend) {
  Completions done;
  {
    MutexLock l(&mu_);
    if (stopping_ || fenced_ || !started_ || witness_id_.empty()) return;
    auto witness = peers_.find(witness_id_);
    if (witness == peers_.end()) return;
    std::set<std::string> outdated;
    for (const auto& [id, link] : peers_) {
      if (!link->witness() && link->state() != PeerState::kInSync) outdated.insert(id);
    }
    if (!witness_record_.ShouldSend(outdated, resend)) return;
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
    quorum_.SetOutdated(SlotsLocked(witness_record_.confirmed()), &done);
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
    quorum_.SetOutdated(SlotsLocked(witness_record_.confirmed()), &done);
  }
  RunCompletions(done);
}

}  // namespace syncblock::repl
