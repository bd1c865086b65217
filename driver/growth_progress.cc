#include "driver/growth_progress.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "driver/flags.h"
#include "driver/human_format.h"
#include "driver/progress.h"

namespace syncblock::driver {

namespace {

absl::Status ErrnoError(const std::string& what, const std::string& path) {
  return absl::UnavailableError(absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

double Rate(const Growth& g) {
  if (g.elapsed_s <= 0 || g.now <= g.from) return 0;
  return static_cast<double>(g.now - g.from) / g.elapsed_s;
}

std::string Elapsed(const Growth& g) {
  return g.done ? absl::StrCat("done in ", FormatDuration(g.elapsed_s))
                : FormatDuration(g.elapsed_s);
}

}  // namespace

absl::StatusOr<uint64_t> MeasuredSize(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return ErrnoError("cannot stat", path);
  if (S_ISBLK(st.st_mode)) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoError("cannot open", path);
    uint64_t bytes = 0;
    const int rc = ::ioctl(fd, BLKGETSIZE64, &bytes);
    const int saved = errno;
    ::close(fd);
    errno = saved;
    if (rc != 0) return ErrnoError("cannot read the size of", path);
    return bytes;
  }
  struct statvfs vfs {};
  if (::statvfs(path.c_str(), &vfs) != 0) return ErrnoError("cannot statvfs", path);
  return static_cast<uint64_t>(vfs.f_blocks) * vfs.f_frsize;
}

double GrowthFraction(const Growth& g) {
  if (g.done) return 1.0;
  if (g.to <= g.from || g.now <= g.from) return 0.0;
  const double f = static_cast<double>(g.now - g.from) / static_cast<double>(g.to - g.from);
  return std::clamp(f, 0.0, 0.99);
}

std::string RenderGrowthLine(const std::string& path, const Growth& g, const TermStyle& style) {
  const std::string numbers =
      absl::StrCat(absl::StrFormat("%3.0f%%", 100 * GrowthFraction(g)), "  ", FormatSize(g.now),
                   " / ", FormatSize(g.to), "  ", FormatRate(Rate(g)), "  ", Elapsed(g));
  constexpr size_t kMinBar = 10, kMaxBar = 40, kGaps = 4;
  std::string label = absl::StrCat("growing ", path);
  size_t bar_width = 30;
  if (style.width > 0) {
    // A long path gives way to the bar and the numbers; its end says the most.
    const size_t fixed = kGaps + kMinBar + DisplayWidth(numbers) + 1;
    const size_t room = style.width > fixed ? style.width - fixed : 0;
    if (label.size() > room) {
      // The path's end, or none at all on a narrow screen (the line after
      // the bar names it).
      label = room >= 16 ? absl::StrCat("growing ...", path.substr(path.size() - (room - 11)))
                         : std::string("growing");
    }
    const size_t rest = DisplayWidth(label) + kGaps + DisplayWidth(numbers) + 1;
    bar_width = style.width > rest ? std::clamp(style.width - rest, kMinBar, kMaxBar) : kMinBar;
  }
  return absl::StrCat(label, "  ",
                      Paint(style, g.done ? Color::kGreen : Color::kYellow,
                            ProgressBar(GrowthFraction(g), bar_width)),
                      "  ", numbers, "\n");
}

std::string RenderGrowthPlain(const std::string& path, const Growth& g) {
  if (g.done) {
    return absl::StrCat("grew ", path, " from ", FormatSize(g.from), " to ", FormatSize(g.now),
                        " in ", FormatDuration(g.elapsed_s), "\n");
  }
  return absl::StrCat("growing ", path, ": ", absl::StrFormat("%.0f%%", 100 * GrowthFraction(g)),
                      ", ", FormatSize(g.now), " of ", FormatSize(g.to), ", ", FormatRate(Rate(g)),
                      ", ", FormatDuration(g.elapsed_s), " so far\n");
}

}  // namespace syncblock::driver
