// The lines `ctl csi expand --path` shows while the node grows a filesystem:
// the fraction stops short of 100% until the node answers, the terminal line
// fits its width even with a long path, and the plain line says the numbers.
#include "driver/growth_progress.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/test_util.h"

namespace syncblock::driver {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kMiB = 1 << 20;

TEST(GrowthProgressTest, FractionWaitsForTheAnswer) {
  Growth g{512 * kMiB, 512 * kMiB, 1536 * kMiB};
  EXPECT_EQ(GrowthFraction(g), 0.0);
  g.now = 1024 * kMiB;
  EXPECT_DOUBLE_EQ(GrowthFraction(g), 0.5);
  // A filesystem's size can pass what was asked for only by rounding; the
  // bar stays short of full until the node says it is done.
  g.now = 1536 * kMiB;
  EXPECT_EQ(GrowthFraction(g), 0.99);
  g.done = true;
  EXPECT_EQ(GrowthFraction(g), 1.0);
  // Shrunk or not grown (a size read before the node started): nothing done.
  Growth odd{512 * kMiB, 100 * kMiB, 1536 * kMiB};
  EXPECT_EQ(GrowthFraction(odd), 0.0);
  Growth same{512 * kMiB, 512 * kMiB, 512 * kMiB};
  EXPECT_EQ(GrowthFraction(same), 0.0);
}

TEST(GrowthProgressTest, TerminalLineHasBarNumbersAndFitsTheWidth) {
  TermStyle style{true, false, 80};
  Growth g{512 * kMiB, 1024 * kMiB, 1536 * kMiB, 2.0};
  std::string line = RenderGrowthLine("/mnt/data", g, style);
  EXPECT_THAT(line, HasSubstr("growing /mnt/data  ["));
  EXPECT_THAT(line, HasSubstr(" 50%  1.0 GiB / 1.5 GiB  256.0 MiB/s  2 s"));
  EXPECT_LE(DisplayWidth(line) - 1, 80u) << line;

  const std::string deep(150, 'd');
  std::string long_line = RenderGrowthLine("/var/lib/kubelet/" + deep + "/mount", g, style);
  EXPECT_LE(DisplayWidth(long_line) - 1, 80u) << long_line;
  EXPECT_THAT(long_line, ::testing::StartsWith("growing ...ddd"));
  EXPECT_THAT(long_line, HasSubstr("ddd/mount  ["));
  EXPECT_THAT(long_line, HasSubstr("1.0 GiB / 1.5 GiB"));

  // Too narrow for any of the path: the bar and numbers still fit.
  Growth fast{512 * kMiB, 1400 * kMiB, 1536 * kMiB, 0.078, true};
  std::string narrow = RenderGrowthLine("/tmp/syncblock-test-IflrPO/pods/grow/mount", fast, style);
  EXPECT_LE(DisplayWidth(narrow) - 1, 80u) << narrow;

  g.done = true;
  g.now = 1500 * kMiB;
  EXPECT_THAT(RenderGrowthLine("/mnt/data", g, style), HasSubstr("100%"));
  EXPECT_THAT(RenderGrowthLine("/mnt/data", g, style), HasSubstr("done in 2 s"));
}

TEST(GrowthProgressTest, PlainLines) {
  Growth g{512 * kMiB, 1024 * kMiB, 1536 * kMiB, 4.0};
  EXPECT_EQ(RenderGrowthPlain("/mnt/data", g),
            "growing /mnt/data: 50%, 1.0 GiB of 1.5 GiB, 128.0 MiB/s, 4 s so far\n");
  g.done = true;
  EXPECT_EQ(RenderGrowthPlain("/mnt/data", g), "grew /mnt/data from 512.0 MiB to 1.0 GiB in 4 s\n");
}

TEST(GrowthProgressTest, MeasuresFilesystemsAndSaysWhyNot) {
  testing::TempDir dir;
  absl::StatusOr<uint64_t> size = MeasuredSize(dir.path());
  ASSERT_TRUE(size.ok()) << size.status();
  EXPECT_GT(*size, 0u);
  absl::StatusOr<uint64_t> missing = MeasuredSize(dir.Join("nosuch"));
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("nosuch"));
}

}  // namespace
}  // namespace syncblock::driver
