// What `syncblock ctl` knows about where its output goes: a terminal or not,
// whether colour is wanted, and how wide the screen is. Tables shrink to the
// width, progress is redrawn in place and states are coloured only on a
// terminal; colour never when NO_COLOR is set (https://no-color.org) or TERM
// is "dumb".
//
// Thread-safe: values; DetectTerminal reads the environment.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace syncblock::driver {

struct TermStyle {
  bool tty = false;    // a terminal: redraw in place, progress bars
  bool color = false;  // ANSI colours allowed
  size_t width = 0;    // columns to fit tables in; 0 = no limit
};

// For the file descriptor `fd` (1 for standard output): a terminal's width
// comes from the terminal (TIOCGWINSZ), else $COLUMNS, else 80. Not a
// terminal: no colour, and no width limit unless $COLUMNS is set.
TermStyle DetectTerminal(int fd);

enum class Color { kNone, kRed, kGreen, kYellow, kBold, kDim };

// `text` wrapped in the colour's escape sequence when `style.color`, else as is.
std::string Paint(const TermStyle& style, Color color, std::string_view text);

// The colour of a replica, volume or node state word: green for healthy ones
// (in_sync, healthy, ready), yellow for those on their way (resyncing,
// degraded), red for the broken ones (offline, failed, unavailable,
// unreachable...).
Color StateColor(std::string_view state);

// The number of terminal columns `text` takes: ANSI escape sequences take
// none, a UTF-8 character one.
size_t DisplayWidth(std::string_view text);

}  // namespace syncblock::driver
