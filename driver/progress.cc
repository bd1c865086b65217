#include "driver/progress.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "driver/flags.h"
#include "driver/human_format.h"

namespace syncblock::driver {

namespace {

double Fraction(const repl::ReplicaView& r) {
  if (r.bytes_total == 0) return 0;
  return std::clamp(static_cast<double>(r.bytes_copied) / static_cast<double>(r.bytes_total), 0.0,
                    1.0);
}

// "45%  115.2 MiB / 256.0 MiB  50.0 MiB/s  ETA 3 s", parts joined by `sep`;
// `pad` right-aligns the percentage (a bar's line).
std::string Numbers(const repl::ReplicaView& r, const std::string& sep, bool pad) {
  std::string out = absl::StrFormat(pad ? "%3.0f%%" : "%.0f%%", 100 * Fraction(r));
  absl::StrAppend(&out, sep, FormatSize(r.bytes_copied), " / ", FormatSize(r.bytes_total));
  if (r.state == "resyncing") {
    absl::StrAppend(&out, sep, FormatRate(r.rate_bytes_per_second), sep, "ETA ",
                    r.rate_bytes_per_second > 0 ? FormatDuration(r.eta_seconds) : "?");
  }
  return out;
}

}  // namespace

bool Copying(const repl::ReplicaView& r) {
  return r.state == "resyncing" || (r.bytes_total > 0 && r.bytes_copied < r.bytes_total &&
                                    r.state != "in_sync" && r.state != "offline");
}

std::string ProgressBar(double fraction, size_t width) {
  width = std::max<size_t>(width, 3);
  const size_t inner = width - 2;
  fraction = std::isfinite(fraction) ? std::clamp(fraction, 0.0, 1.0) : 0.0;
  const auto done = static_cast<size_t>(std::floor(fraction * static_cast<double>(inner)));
  std::string bar = "[";
  bar += std::string(done, '=');
  if (done < inner) bar += '>';
  bar += std::string(inner - std::min(inner, done + 1), ' ');
  if (done >= inner) bar.resize(1 + inner);
  return bar + "]";
}

std::string RenderProgressLine(const repl::ReplicaView& r, const TermStyle& style) {
  std::string label = absl::StrFormat("%-8s", r.node);
  if (!Copying(r)) {
    return absl::StrCat(label, "  ", Paint(style, StateColor(r.state), r.state),
                        r.message.empty() ? "" : absl::StrCat("  ", r.message), "\n");
  }
  std::string numbers = Numbers(r, "  ", true);
  if (r.full_copy) absl::StrAppend(&numbers, "  full copy");
  size_t bar_width = 30;
  if (style.width > 0) {
    size_t rest = DisplayWidth(label) + 2 + 2 + DisplayWidth(numbers);
    bar_width = style.width > rest ? std::clamp<size_t>(style.width - rest - 1, 10, 40) : 10;
  }
  std::string line =
      absl::StrCat(label, "  ", Paint(style, Color::kYellow, ProgressBar(Fraction(r), bar_width)),
                   "  ", numbers);
  return line + "\n";
}

std::string RenderProgressPlain(const repl::ReplicaView& r) {
  if (!Copying(r)) return absl::StrCat(r.node, " ", r.state, "\n");
  return absl::StrCat(r.node, " ", r.state, " ", Numbers(r, ", ", false),
                      r.full_copy ? ", full copy" : "", "\n");
}

void LiveRegion::Draw(const std::string& text) {
  if (!tty_) {
    out_ << text;
    out_.flush();
    return;
  }
  // Back to the first line of the previous block (VT100 cursor up), then each
  // line over the old one, erasing what is left of it, and what is left below.
  // Not one "erase below" from the block's top: terminals such as tmux keep a
  // whole erased screen in their scrollback, which would fill with frames.
  if (lines_ > 0) out_ << "\r\x1b[" << lines_ << "A";
  size_t start = 0;
  lines_ = 0;
  for (size_t nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', start)) {
    out_ << text.substr(start, nl - start) << "\x1b[K\n";
    start = nl + 1;
    ++lines_;
  }
  out_ << "\x1b[J";
  out_.flush();
}

}  // namespace syncblock::driver
