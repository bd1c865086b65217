// Progress of long `syncblock ctl` operations (resync, full copies of a new
// replica or a clone) and the screen region that `--watch` redraws in place.
//
// Thread-compatible: one writer at a time.
#pragma once

#include <cstddef>
#include <ostream>
#include <string>

#include "driver/terminal.h"
#include "replication/client/storage_cluster.h"

namespace syncblock::driver {

// "[=========>          ]" of `width` columns (at least 3) for a fraction in 0..1.
std::string ProgressBar(double fraction, size_t width);

// One replica's copy as one line:
//   node-2  [=========>         ]  45%  115.2 MiB / 256.0 MiB  50.0 MiB/s  ETA 3 s
// With style.width, the bar takes what the other parts leave (10 to 40
// columns) and the line fits the width; without, a 30-column bar.
// A replica with nothing to copy gets its state instead of numbers.
std::string RenderProgressLine(const repl::ReplicaView& replica, const TermStyle& style);

// The same without a bar, for logs and pipes:
//   node-2 resyncing 45% 115.2 MiB / 256.0 MiB, 50.0 MiB/s, ETA 3 s
std::string RenderProgressPlain(const repl::ReplicaView& replica);

// Replicas still being copied into (resyncing, or a full copy under way).
bool Copying(const repl::ReplicaView& replica);

// A block of lines drawn at the bottom of a terminal and redrawn in place: the
// next Draw moves the cursor back over the previous block and writes over it.
// Not on a terminal, each Draw just writes its text after the previous one.
// Each line of a block must fit the terminal (else the count is off).
class LiveRegion {
 public:
  LiveRegion(std::ostream& out, bool tty) : out_(out), tty_(tty) {}
  // `text` is whole lines, each ending in '\n'.
  void Draw(const std::string& text);

 private:
  std::ostream& out_;
  bool tty_;
  size_t lines_ = 0;  // lines of the block on screen now
};

}  // namespace syncblock::driver
