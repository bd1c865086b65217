#include "replication/remote/range_shipper.h"

#include <algorithm>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "replication/qos/token_bucket.h"

namespace syncblock::repl {
namespace {

bool AllZero(const std::string& data) {
  return std::all_of(data.begin(), data.end(), [](char c) { return c == 0; });
}

}  // namespace

absl::StatusOr<ShipTotals> ShipRanges(const ByteRanges& ranges, const ByteRanges& zeroes,
                                      const ShipTotals& start, const ChunkReader& read,
                                      ChunkSink& sink, const ShipOptions& options,
                                      const Checkpoint& checkpoint,
                                      const std::function<bool()>& stopping, Clock& clock) {
  ShipTotals totals = start;
  TokenBucket bucket;
  // A second's worth of burst: the limit holds over any few seconds.
  bucket.Configure(
      static_cast<double>(options.rate_bytes_per_second),
      static_cast<double>(std::max<uint64_t>(options.rate_bytes_per_second, options.chunk_bytes)),
      clock.Now());
  uint64_t since_checkpoint = 0;
  Clock::TimePoint last_checkpoint = clock.Now();
  Clock::TimePoint valid_until = last_checkpoint;  // the first write checks first
  auto do_checkpoint = [&](uint64_t through) -> absl::Status {
    if (absl::Status s = sink.Flush(); !s.ok()) return s;
    totals.through_offset = through;
    since_checkpoint = 0;
    const Clock::TimePoint asked = clock.Now();
    if (absl::Status s = checkpoint(totals); !s.ok()) return s;
    last_checkpoint = asked;
    valid_until = asked + options.write_validity;
    return absl::OkStatus();
  };
  // Before any write: a checkpoint when the last one is too old to vouch.
  auto may_write = [&](uint64_t at) -> absl::Status {
    if (clock.Now() < valid_until) return absl::OkStatus();
    // Everything below `at` is written: the flush makes it the checkpoint.
    return do_checkpoint(at);
  };

  struct Segment {
    ByteRange range;
    bool zero;
  };
  std::vector<Segment> segments;
  for (const auto& r : RangesFrom(ranges, start.through_offset)) segments.push_back({r, false});
  for (const auto& r : RangesFrom(zeroes, start.through_offset)) segments.push_back({r, true});
  std::sort(segments.begin(), segments.end(),
            [](const Segment& a, const Segment& b) { return a.range.offset < b.range.offset; });
  uint64_t end = start.through_offset;
  for (const Segment& segment : segments) {
    const ByteRange& range = segment.range;
    end = std::max(end, range.end());
    if (segment.zero) {
      // In bounded pieces, each checked like a chunk of data: a large run of
      // zeros takes a while on a big volume.
      const uint64_t piece = static_cast<uint64_t>(options.chunk_bytes) * 32;
      for (uint64_t at = range.offset; at < range.end();) {
        if (stopping()) return absl::CancelledError("the transfer was stopped");
        const uint64_t len = std::min(piece, range.end() - at);
        if (absl::Status s = may_write(at); !s.ok()) return s;
        if (absl::Status s = sink.WriteZeroes(at, len); !s.ok()) return s;
        totals.zero_bytes += len;
        at += len;
        if (clock.Now() - last_checkpoint >= options.checkpoint_interval) {
          if (absl::Status s = do_checkpoint(at); !s.ok()) return s;
        }
      }
      continue;
    }
    for (uint64_t at = range.offset; at < range.end();) {
      if (stopping()) return absl::CancelledError("the transfer was stopped");
      const uint32_t len =
          static_cast<uint32_t>(std::min<uint64_t>(options.chunk_bytes, range.end() - at));
      auto data = read(at, len);
      if (!data.ok()) return data.status();
      if (data->size() != len) {
        return absl::DataLossError(
            absl::StrCat("read ", data->size(), " bytes at ", at, " where ", len, " were asked"));
      }
      if (absl::Status s = may_write(at); !s.ok()) return s;
      if (AllZero(*data)) {
        if (absl::Status s = sink.WriteZeroes(at, len); !s.ok()) return s;
        totals.zero_bytes += len;
      } else {
        while (!bucket.TryTake(static_cast<double>(len), clock.Now())) {
          auto wait = bucket.TimeUntil(static_cast<double>(len), clock.Now());
          std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(
              std::max<std::chrono::nanoseconds>(wait, std::chrono::milliseconds(1)),
              std::chrono::milliseconds(200)));
          if (stopping()) return absl::CancelledError("the transfer was stopped");
        }
        if (absl::Status s = may_write(at); !s.ok()) return s;  // after the rate's wait
        if (absl::Status s = sink.Write(at, *data); !s.ok()) return s;
        totals.bytes_shipped += len;
        since_checkpoint += len;
      }
      at += len;
      if (since_checkpoint >= options.checkpoint_bytes ||
          clock.Now() - last_checkpoint >= options.checkpoint_interval) {
        if (absl::Status s = do_checkpoint(at); !s.ok()) return s;
      }
    }
  }
  if (absl::Status s = do_checkpoint(end); !s.ok()) return s;
  return totals;
}

}  // namespace syncblock::repl
