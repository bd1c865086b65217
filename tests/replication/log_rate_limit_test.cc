#include "replication/util/log_rate_limit.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"

namespace syncblock {
namespace {

using Clock = spdlog::log_clock;
using std::chrono::milliseconds;

class RateLimitSinkTest : public ::testing::Test {
 protected:
  RateLimitSinkTest() {
    auto out = std::make_shared<spdlog::sinks::ostream_sink_st>(stream_);
    out->set_pattern("%l %v");
    LogRateLimit limit;
    limit.window = milliseconds(10000);
    limit.burst = 3;
    limit.max_lines = 8;
    sink_ = std::make_shared<RateLimitSink>(out, limit);
  }

  // Logs `text` at `at` past the start (the sink reads the message's time).
  void Log(const std::string& text, milliseconds at,
           spdlog::level::level_enum level = spdlog::level::err) {
    spdlog::details::log_msg msg(start_ + at, spdlog::source_loc{}, "test", level,
                                 spdlog::string_view_t(text.data(), text.size()));
    sink_->log(msg);
  }

  std::vector<std::string> Lines() {
    std::vector<std::string> out;
    for (absl::string_view l : absl::StrSplit(stream_.str(), '\n', absl::SkipEmpty())) {
      out.emplace_back(l);
    }
    return out;
  }

  std::ostringstream stream_;
  std::shared_ptr<RateLimitSink> sink_;
  const Clock::time_point start_ = Clock::now();
};

TEST_F(RateLimitSinkTest, FloodOfOneLineIsCutToBurstAndCountedWhenItResumes) {
  // 55,000 copies in 3.5 minutes was the original flood: 1000 in 1 s here.
  for (int i = 0; i < 1000; ++i) Log("volume v1: write: no space", milliseconds(i));
  EXPECT_EQ(Lines().size(), 3u);
  EXPECT_EQ(sink_->suppressed_total(), 997u);

  Log("volume v1: write: no space", milliseconds(10000));
  std::vector<std::string> lines = Lines();
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[3], "error volume v1: write: no space [997 identical lines suppressed in 10s]");
}

TEST_F(RateLimitSinkTest, DistinctLinesAndLevelsAreCountedApart) {
  for (int i = 0; i < 10; ++i) {
    Log("volume v1: no space", milliseconds(i));
    Log("volume v2: no space", milliseconds(i));
    Log("volume v1: no space", milliseconds(i), spdlog::level::warn);
  }
  EXPECT_EQ(Lines().size(), 9u);  // 3 of each
  EXPECT_EQ(sink_->suppressed_total(), 21u);
}

TEST_F(RateLimitSinkTest, DebugLinesAreNeverLimited) {
  for (int i = 0; i < 50; ++i) Log("nbd: read", milliseconds(i), spdlog::level::debug);
  EXPECT_EQ(Lines().size(), 50u);
  EXPECT_EQ(sink_->suppressed_total(), 0u);
}

TEST_F(RateLimitSinkTest, ALineThatStopsGetsItsCountFromTheNextLineOrFlush) {
  for (int i = 0; i < 5; ++i) Log("peer node-2: connection refused", milliseconds(i));
  for (int i = 0; i < 4; ++i) Log("peer node-3: connection refused", milliseconds(i));
  ASSERT_EQ(Lines().size(), 6u);

  // node-2 stops; some other line after its window reports what was dropped.
  Log("volume v1: resync done", milliseconds(20000), spdlog::level::info);
  std::vector<std::string> lines = Lines();
  ASSERT_EQ(lines.size(), 9u);
  EXPECT_EQ(lines[6], "info volume v1: resync done");
  EXPECT_EQ(lines[7],
            "error peer node-2: connection refused [2 identical lines suppressed in 10s]");
  EXPECT_EQ(lines[8], "error peer node-3: connection refused [1 identical line suppressed in 10s]");

  // Nothing left to report: a flush adds nothing, and the line passes again.
  sink_->flush();
  EXPECT_EQ(Lines().size(), 9u);
  Log("peer node-2: connection refused", milliseconds(20001));
  EXPECT_EQ(Lines().back(), "error peer node-2: connection refused");
}

TEST_F(RateLimitSinkTest, FlushReportsPendingCounts) {
  for (int i = 0; i < 7; ++i) Log("disk full", milliseconds(i));
  sink_->flush();
  std::vector<std::string> lines = Lines();
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[3], "error disk full [4 identical lines suppressed in 10s]");
}

TEST_F(RateLimitSinkTest, FlushDoesNotLiftTheLimit) {
  for (int i = 0; i < 7; ++i) Log("disk full", milliseconds(i));
  sink_->flush();
  for (int i = 0; i < 5; ++i) Log("disk full", milliseconds(100 + i));
  EXPECT_EQ(Lines().size(), 4u);  // 3 + the count; the window still holds
  EXPECT_EQ(sink_->suppressed_total(), 9u);
}

TEST_F(RateLimitSinkTest, TooManyDistinctLinesPassUnlimited) {
  // max_lines is 8: lines beyond what it tracks are written, never dropped.
  for (int i = 0; i < 20; ++i) Log("offset " + std::to_string(i), milliseconds(i));
  for (int i = 0; i < 5; ++i) Log("offset 19", milliseconds(100 + i));
  EXPECT_EQ(Lines().size(), 25u);
}

TEST(InstallLogRateLimitTest, DefaultLoggerGetsTheLimitOnce) {
  InstallLogRateLimit();
  InstallLogRateLimit();
  auto sinks = spdlog::default_logger()->sinks();
  ASSERT_EQ(sinks.size(), 1u);
  EXPECT_NE(std::dynamic_pointer_cast<RateLimitSink>(sinks[0]), nullptr);
}

}  // namespace
}  // namespace syncblock
