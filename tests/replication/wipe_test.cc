#include "replication/util/wipe.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace syncblock {
namespace {

bool AllZero(const char* p, size_t n) {
  return std::all_of(p, p + n, [](char c) { return c == '\0'; });
}

TEST(WipeTest, WipeStringZeroesTheWholeBufferAndEmptiesTheString) {
  std::string s = "a secret longer than the small-string buffer";
  // Shortened: the bytes past size() still hold the secret's tail.
  s.resize(8);
  const char* buffer = s.data();
  size_t capacity = s.capacity();
  WipeString(s);
  EXPECT_TRUE(s.empty());
  ASSERT_EQ(s.data(), buffer);  // the same allocation, now zeroed
  EXPECT_TRUE(AllZero(buffer, capacity));
}

TEST(WipeTest, WipeOnExitWipesOnEveryWayOut) {
  std::string s = "another secret, long enough to live on the heap";
  const char* buffer = s.data();
  size_t size = s.size();
  auto leave_early = [&s](bool early) {
    WipeOnExit wipe(s);
    if (early) return 1;
    return 2;
  };
  leave_early(true);
  EXPECT_TRUE(s.empty());
  ASSERT_EQ(s.data(), buffer);
  EXPECT_TRUE(AllZero(buffer, size));
}

TEST(WipeTest, AnEmptyStringStaysEmpty) {
  std::string s;
  WipeString(s);
  EXPECT_TRUE(s.empty());
}

}  // namespace
}  // namespace syncblock
