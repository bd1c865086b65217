#include "driver/terminal.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "absl/strings/numbers.h"

namespace syncblock::driver {

namespace {

size_t ColumnsFromEnv() {
  const char* env = std::getenv("COLUMNS");
  size_t columns = 0;
  if (env != nullptr && absl::SimpleAtoi(env, &columns) && columns > 0) return columns;
  return 0;
}

}  // namespace

TermStyle DetectTerminal(int fd) {
  TermStyle style;
  style.tty = isatty(fd) == 1;
  const char* term = std::getenv("TERM");
  const char* no_color = std::getenv("NO_COLOR");
  bool dumb = term == nullptr || std::string_view(term) == "dumb";
  style.color = style.tty && !dumb && (no_color == nullptr || *no_color == '\0');
  style.width = ColumnsFromEnv();
  if (style.tty && style.width == 0) {
    winsize ws{};
    style.width = ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 80;
  }
  return style;
}

std::string Paint(const TermStyle& style, Color color, std::string_view text) {
  if (!style.color || color == Color::kNone || text.empty()) return std::string(text);
  // SGR codes, in the order of the enum.
  static constexpr const char* kCodes[] = {"", "31", "32", "33", "1", "2"};
  const char* code = kCodes[static_cast<int>(color)];
  return std::string("\x1b[") + code + "m" + std::string(text) + "\x1b[0m";
}

Color StateColor(std::string_view state) {
  if (state == "in_sync" || state == "healthy" || state == "ready" || state == "identical") {
    return Color::kGreen;
  }
  if (state == "resyncing" || state == "degraded" || state == "syncing") return Color::kYellow;
  if (state == "offline" || state == "failed" || state == "unavailable" ||
      state.rfind("unreachable", 0) == 0) {
    return Color::kRed;
  }
  return Color::kNone;
}

size_t DisplayWidth(std::string_view text) {
  size_t width = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == 0x1b && i + 1 < text.size() && text[i + 1] == '[') {
      // CSI: parameters, then one final byte in 0x40..0x7e.
      i += 2;
      while (i < text.size() && !(text[i] >= 0x40 && text[i] <= 0x7e)) ++i;
      continue;
    }
    if ((c & 0xc0) != 0x80) ++width;  // not a UTF-8 continuation byte
  }
  return width;
}

}  // namespace syncblock::driver
