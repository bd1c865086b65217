// How `syncblock ctl` presents things to a person: human units and relative
// times (driver/human_format.h), tables that fit a width (output_table.h),
// progress bars and the region redrawn in place (progress.h), terminal and
// colour detection (terminal.h), and the shell completion scripts
// (completion.h), which run in a real bash.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_split.h"
#include "driver/completion.h"
#include "driver/ctl_commands.h"
#include "driver/human_format.h"
#include "driver/output_table.h"
#include "driver/progress.h"
#include "driver/terminal.h"
#include "tests/support/test_util.h"

namespace syncblock::driver {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(HumanFormatTest, Durations) {
  EXPECT_EQ(FormatDuration(0.012), "12 ms");
  EXPECT_EQ(FormatDuration(0), "0 ms");
  EXPECT_EQ(FormatDuration(45), "45 s");
  EXPECT_EQ(FormatDuration(59.6), "1 min");
  EXPECT_EQ(FormatDuration(75), "1 min 15 s");
  EXPECT_EQ(FormatDuration(7260), "2 h 1 min");
  EXPECT_EQ(FormatDuration(190000), "2 d 4 h");
  EXPECT_EQ(FormatDuration(-1), "?");
  EXPECT_EQ(FormatDuration(1.0 / 0.0), "?");
}

TEST(HumanFormatTest, RatesAndRelativeTimes) {
  EXPECT_EQ(FormatRate(64.0 * (1 << 20)), "64.0 MiB/s");
  const int64_t now = 1'800'000'000'000;
  EXPECT_EQ(FormatAgo(now - 1000, now), "just now");
  EXPECT_EQ(FormatAgo(now - 12'000, now), "12 s ago");
  EXPECT_EQ(FormatAgo(now - 150'000, now), "2 min ago");
  EXPECT_EQ(FormatAgo(now - 3 * 3'600'000 - 5, now), "3 h ago");
  EXPECT_EQ(FormatAgo(now - 86'400'000, now), "1 day ago");
  EXPECT_EQ(FormatAgo(now - 5 * 86'400'000LL, now), "5 days ago");
  EXPECT_EQ(FormatAgo(now + 10'000, now), "just now");  // a little clock skew
  EXPECT_EQ(FormatAgo(now + 180'000, now), "in 3 min");
}

TEST(TableTest, FitsTheWidthByCuttingFlexibleColumns) {
  Table t({"NODE", "STATE", "MESSAGE"});
  t.Flexible("MESSAGE");
  t.AddRow({"node-1", "offline", std::string(100, 'x')});
  TermStyle style;
  style.width = 40;
  std::string text = t.Render(style);
  for (absl::string_view line : absl::StrSplit(text, '\n')) EXPECT_LE(line.size(), 40u) << line;
  EXPECT_THAT(text, HasSubstr("xxx..."));
  EXPECT_THAT(t.Render(), HasSubstr(std::string(100, 'x')));
}

TEST(TableTest, DropsOptionalColumnsBeforeCutting) {
  Table t({"ID", "ADDRESS", "NOTE"});
  t.Optional("ADDRESS").Flexible("NOTE");
  t.AddRow({"a", "10.0.0.1:7400", "short"});
  TermStyle style;
  style.width = 16;
  EXPECT_EQ(t.Render(style),
            "ID  NOTE\n"
            "a   short\n");
}

TEST(TableTest, PaintedCellsKeepTheColumnsAligned) {
  Table t({"NODE", "STATE", "N"});
  t.Painted("STATE", StateColor);
  t.AddRow({"node-1", "in_sync", "1"});
  t.AddRow({"node-22", "offline", "2"});
  TermStyle colour;
  colour.color = true;
  EXPECT_EQ(t.Render(colour),
            "\x1b[1mNODE\x1b[0m     \x1b[1mSTATE\x1b[0m    \x1b[1mN\x1b[0m\n"
            "node-1   \x1b[32min_sync\x1b[0m  1\n"
            "node-22  \x1b[31moffline\x1b[0m  2\n");
  EXPECT_EQ(DisplayWidth("\x1b[32min_sync\x1b[0m"), 7u);
}

repl::ReplicaView Resyncing() {
  repl::ReplicaView r;
  r.node = "node-2";
  r.state = "resyncing";
  r.bytes_copied = 115ull << 20;
  r.bytes_total = 256ull << 20;
  r.rate_bytes_per_second = 50.0 * (1 << 20);
  r.eta_seconds = 3;
  return r;
}

TEST(ProgressTest, BarLineHasBytesRateAndEtaAndFitsTheWidth) {
  EXPECT_EQ(ProgressBar(0, 12), "[>         ]");
  EXPECT_EQ(ProgressBar(0.5, 12), "[=====>    ]");
  EXPECT_EQ(ProgressBar(1, 12), "[==========]");
  TermStyle style;
  style.width = 80;
  std::string line = RenderProgressLine(Resyncing(), style);
  EXPECT_THAT(line, HasSubstr("node-2"));
  EXPECT_THAT(line, HasSubstr("] "));
  EXPECT_THAT(line, HasSubstr(" 45%  115.0 MiB / 256.0 MiB  50.0 MiB/s  ETA 3 s"));
  EXPECT_LE(DisplayWidth(line) - 1, 80u) << line;  // less its newline
  style.width = 200;
  EXPECT_LE(RenderProgressLine(Resyncing(), style).size(), 120u);  // the bar stops growing
  EXPECT_EQ(RenderProgressPlain(Resyncing()),
            "node-2 resyncing 45%, 115.0 MiB / 256.0 MiB, 50.0 MiB/s, ETA 3 s\n");
  repl::ReplicaView done;
  done.node = "node-1";
  done.state = "in_sync";
  EXPECT_FALSE(Copying(done));
  EXPECT_EQ(RenderProgressLine(done, {}), "node-1    in_sync\n");
}

TEST(ProgressTest, LiveRegionRedrawsInPlaceOnlyOnATerminal) {
  std::ostringstream tty;
  LiveRegion region(tty, true);
  region.Draw("a\nb\n");
  region.Draw("c\n");
  region.Draw("d\n");
  // Each line erases the rest of the old one; up two lines, then up one.
  EXPECT_EQ(tty.str(),
            "a\x1b[K\nb\x1b[K\n\x1b[J"
            "\r\x1b[2Ac\x1b[K\n\x1b[J"
            "\r\x1b[1Ad\x1b[K\n\x1b[J");
  std::ostringstream pipe;
  LiveRegion plain(pipe, false);
  plain.Draw("a\n");
  plain.Draw("b\n");
  EXPECT_EQ(pipe.str(), "a\nb\n");
}

// Sets an environment variable for the scope of a test.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    const char* old = getenv(name);
    had_ = old != nullptr;
    if (had_) old_ = old;
    if (value) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (had_) {
      setenv(name_, old_.c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  bool had_ = false;
  std::string old_;
};

TEST(TerminalTest, ColourAndWidthOnlyOnATerminalAndNeverWithNoColor) {
  ScopedEnv term("TERM", "xterm-256color");
  ScopedEnv columns("COLUMNS", nullptr);
  ScopedEnv no_color("NO_COLOR", nullptr);
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  TermStyle piped = DetectTerminal(pipe_fds[1]);
  EXPECT_FALSE(piped.tty);
  EXPECT_FALSE(piped.color);
  EXPECT_EQ(piped.width, 0u);
  close(pipe_fds[0]);
  close(pipe_fds[1]);

  // A real pseudo-terminal, 100 columns wide.
  int master = posix_openpt(O_RDWR | O_NOCTTY);
  ASSERT_GE(master, 0);
  ASSERT_EQ(grantpt(master), 0);
  ASSERT_EQ(unlockpt(master), 0);
  int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
  ASSERT_GE(slave, 0);
  winsize ws{};
  ws.ws_col = 100;
  ws.ws_row = 30;
  ASSERT_EQ(ioctl(slave, TIOCSWINSZ, &ws), 0);
  TermStyle tty = DetectTerminal(slave);
  EXPECT_TRUE(tty.tty);
  EXPECT_TRUE(tty.color);
  EXPECT_EQ(tty.width, 100u);
  {
    ScopedEnv off("NO_COLOR", "1");
    EXPECT_FALSE(DetectTerminal(slave).color);
    EXPECT_TRUE(DetectTerminal(slave).tty);
  }
  {
    ScopedEnv dumb("TERM", "dumb");
    EXPECT_FALSE(DetectTerminal(slave).color);
  }
  close(slave);
  close(master);
  EXPECT_EQ(Paint(piped, Color::kRed, "x"), "x");
  EXPECT_EQ(Paint(tty, Color::kRed, "x"), "\x1b[31mx\x1b[0m");
}

// Runs `script` (bash) after loading the completion script; returns its output.
std::string InBash(const std::string& script) {
  syncblock::testing::TempDir dir;
  std::ofstream(dir.Join("completion.bash")) << CompletionScript("bash", CtlCommandTable());
  std::ofstream(dir.Join("test.bash")) << "source " << dir.Join("completion.bash") << "\n"
                                       << script;
  auto r = syncblock::testing::RunCommand("bash " + dir.Join("test.bash"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return r.output;
}

// What bash completes for the words of `line` (the last word being typed).
std::string Complete(const std::string& line) {
  return InBash("COMP_WORDS=(" + line + ")\nCOMP_CWORD=$((${#COMP_WORDS[@]} - 1))\n" +
                "_syncblock\necho \"${COMPREPLY[*]}\"\n");
}

TEST(CompletionTest, BashCompletesCommandsFlagsAndValues) {
  EXPECT_EQ(Complete("syncblock c"), "completion csi ctl\n");
  EXPECT_EQ(Complete("syncblock ctl vol"), "volume\n");
  EXPECT_EQ(Complete("syncblock ctl volume c"), "create\n");
  EXPECT_EQ(Complete("syncblock ctl resync-status vm1 --w"), "--watch\n");
  EXPECT_EQ(Complete("syncblock ctl volume create vm1 --from-"), "--from-snapshot --from-volume\n");
  // A flag's value is not taken for a command word.
  EXPECT_EQ(Complete("syncblock ctl --cluster volume vol"), "volume\n");
  EXPECT_EQ(Complete("syncblock ctl -o j"), "json\n");
  EXPECT_EQ(Complete("syncblock completion z"), "zsh\n");
  EXPECT_EQ(Complete("syncblock local s"), "start status\n");
  // Nothing is offered for a size.
  EXPECT_EQ(Complete("syncblock ctl volume create vm1 --size ''"), "\n");
  // Every ctl command completes from its parent.
  for (const auto& c : CtlCommandTable()) {
    std::string line = "syncblock ctl";
    for (size_t i = 0; i + 1 < c.path.size(); ++i) line += " " + c.path[i];
    EXPECT_THAT(Complete(line + " " + c.path.back()), HasSubstr(c.path.back())) << line;
  }
}

TEST(CompletionTest, ZshScriptLoadsAndKnowsTheSameWords) {
  EXPECT_THAT(CompletionScript("zsh", CtlCommandTable()), HasSubstr("#compdef syncblock"));
  EXPECT_EQ(CompletionScript("fish", CtlCommandTable()), "");
  if (!syncblock::testing::HaveTool("zsh")) {
    GTEST_SKIP() << "zsh not installed (Debian: zsh); the bash script was tested";
  }
  syncblock::testing::TempDir dir;
  std::ofstream(dir.Join("_syncblock")) << CompletionScript("zsh", CtlCommandTable());
  std::ofstream(dir.Join("test.zsh"))
      << "autoload -U compinit && compinit -u -d " << dir.Join("zcompdump") << "\n"
      << "source " << dir.Join("_syncblock") << "\n"
      << "print -r -- \"$_comps[syncblock]\"\n"
      << "_syncblock_words 'ctl volume'\n";
  auto r = syncblock::testing::RunCommand("zsh -f " + dir.Join("test.zsh"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("_syncblock\n"));
  EXPECT_THAT(r.output, HasSubstr("create delete expand list promote-remote qos replicate "
                                  "replication-status show"));
}

}  // namespace
}  // namespace syncblock::driver
