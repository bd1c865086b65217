// libFuzzer target for the witness's record of outdated replicas: the
// kWitnessRecord payload codec (replication/wire/wire_format.h,
// DecodeOutdated) as a witness reads it from its primary, and the primary's
// bookkeeping of what the witness is known to hold
// (replication/engine/witness_record.h), driven by a sequence of operations
// decoded from the input and checked against a model of its contract.
//
// The codec: what DecodeOutdated accepts is a set of non-empty ids without a
// newline that EncodeOutdated writes back to a payload decoding the same; a
// refusal is INVALID_ARGUMENT.
//
// WitnessRecord: records go down the stream in order and the witness acks in
// order, so after an ack of record k it holds one of records k..n (the last
// sent). `confirmed` must be a subset of each of those; with no ack since the
// last Reset, it must be empty. Any crash, sanitizer report or abort is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "replication/engine/witness_record.h"
#include "replication/wire/wire_format.h"

namespace {

using namespace syncblock::repl;  // NOLINT
using Ids = std::set<std::string>;

void Codec(std::string_view payload) {
  absl::StatusOr<Ids> ids = DecodeOutdated(payload);
  if (!ids.ok()) {
    if (ids.status().code() != absl::StatusCode::kInvalidArgument) abort();
    return;
  }
  size_t bytes = 0;
  for (const std::string& id : *ids) {
    if (id.empty() || id.find('\n') != std::string::npos) abort();
    bytes += id.size() + 1;
  }
  const std::string encoded = EncodeOutdated(*ids);
  if (encoded.size() != bytes || encoded.size() > payload.size()) abort();
  absl::StatusOr<Ids> again = DecodeOutdated(encoded);
  if (!again.ok() || *again != *ids) abort();
}

// Reads the operation stream; yields zeros once the input is exhausted.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool empty() const { return in_.empty(); }
  uint8_t Byte() {
    if (in_.empty()) return 0;
    uint8_t b = static_cast<uint8_t>(in_[0]);
    in_.remove_prefix(1);
    return b;
  }
  // A record: a bitmask over a few ids, so that records overlap often.
  Ids Record() {
    static const char* const kIds[] = {"node-a", "node-b", "node-c", "node-d",
                                       "node-e", "node-f", "node-g", "node-h"};
    uint8_t mask = Byte();
    Ids out;
    for (int i = 0; i < 8; ++i) {
      if (mask & (1u << i)) out.insert(kIds[i]);
    }
    return out;
  }

 private:
  std::string_view in_;
};

bool Subset(const Ids& a, const Ids& b) {
  for (const std::string& id : a) {
    if (!b.count(id)) return false;
  }
  return true;
}

void Bookkeeping(std::string_view in) {
  Reader r(in);
  WitnessRecord record;
  std::vector<std::pair<uint64_t, Ids>> sent;  // since the last Reset
  // Index into `sent` of the newest record the witness acked; kNone: none.
  constexpr size_t kNone = SIZE_MAX;
  size_t held_from = kNone;
  uint64_t next_seq = 1;
  for (int steps = 0; !r.empty() && steps < 4096; ++steps) {
    switch (r.Byte() % 4) {
      case 0: {  // send a record
        Ids ids = r.Record();
        const bool resend = r.Byte() & 1;
        const bool should = record.ShouldSend(ids, resend);
        // Always true for a resend, a first record, or a change.
        if ((resend || sent.empty() || ids != record.last_sent()) && !should) abort();
        next_seq += 1 + r.Byte() % 3;  // other frames go between
        record.Sent(next_seq, ids);
        sent.emplace_back(next_seq, std::move(ids));
        if (record.last_sent() != sent.back().second) abort();
        if (record.ShouldSend(sent.back().second, false)) abort();
        break;
      }
      case 1: {  // the witness acks the last record, an older one, or a stray seq
        uint8_t which = r.Byte();
        uint64_t seq;
        size_t index = kNone;
        if (!sent.empty() && which < 192) {
          index = which < 128 ? sent.size() - 1 : which % sent.size();
          seq = sent[index].first;
        } else {
          seq = next_seq + 1 + which;  // never sent
        }
        const Ids before = record.confirmed();
        const bool changed = record.Acked(seq);
        if (changed != (record.confirmed() != before)) abort();
        if (index != kNone && (held_from == kNone || index > held_from)) held_from = index;
        break;
      }
      case 2:  // another witness
        record.Reset();
        sent.clear();
        held_from = kNone;
        if (!record.confirmed().empty() || !record.ShouldSend({}, false)) abort();
        break;
      case 3:  // a reconnect asks for a resend
        if (!record.ShouldSend(r.Record(), true)) abort();
        break;
    }
    // The contract: what is confirmed, the witness holds whatever it has
    // applied since its last ack.
    if (held_from == kNone) {
      if (!record.confirmed().empty()) abort();
      continue;
    }
    for (size_t j = held_from; j < sent.size(); ++j) {
      if (!Subset(record.confirmed(), sent[j].second)) abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  Codec(in);
  Bookkeeping(in);
  return 0;
}
