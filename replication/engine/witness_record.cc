#include "replication/engine/witness_record.h"

#include <algorithm>
#include <iterator>

namespace syncblock::repl {

bool WitnessRecord::ShouldSend(const std::set<std::string>& desired, bool resend) const {
  return resend || !sent_any_ || desired != last_sent_;
}

void WitnessRecord::Sent(uint64_t seq, std::set<std::string> record) {
  std::set<std::string> kept;
  std::set_intersection(confirmed_.begin(), confirmed_.end(), record.begin(), record.end(),
                        std::inserter(kept, kept.end()));
  confirmed_ = std::move(kept);
  last_sent_ = std::move(record);
  last_seq_ = seq;
  sent_any_ = true;
}

bool WitnessRecord::Acked(uint64_t seq) {
  if (!sent_any_ || seq != last_seq_ || confirmed_ == last_sent_) return false;
  confirmed_ = last_sent_;
  return true;
}

void WitnessRecord::Reset() { *this = WitnessRecord(); }

}  // namespace syncblock::repl
