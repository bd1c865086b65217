#include "replication/util/crc32c.h"

#include <gtest/gtest.h>

#include <string>

namespace syncblock {
namespace {

TEST(Crc32cTest, KnownVectors) {
  // RFC 3720 (iSCSI) test vectors.
  std::string zeros(32, '\0');
  EXPECT_EQ(Crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
  std::string ones(32, '\xff');
  EXPECT_EQ(Crc32c(ones.data(), ones.size()), 0x62A8AB43u);
  EXPECT_EQ(Crc32c("123456789", 9), 0xE3069283u);
}

TEST(Crc32cTest, ExtendsInPieces) {
  std::string data = "the quick brown fox jumps over the lazy dog, twice over";
  uint32_t whole = Crc32c(data.data(), data.size());
  uint32_t part = Crc32c(data.data(), 13);
  part = Crc32c(part, data.data() + 13, data.size() - 13);
  EXPECT_EQ(whole, part);
}

}  // namespace
}  // namespace syncblock
