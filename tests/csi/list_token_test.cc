#include "csi/list_token.h"

#include <gtest/gtest.h>

namespace syncblock::csi {
namespace {

TEST(ListTokenTest, RoundTrips) {
  for (const std::string id : {"pvc-1", "sb-00ff", "a.b_c-d"}) {
    auto decoded = DecodeListToken(EncodeListToken(id));
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(*decoded, id);
  }
}

TEST(ListTokenTest, ForeignTokensAreAborted) {
  for (const std::string bad : {"invalid-token", "sb1-", "sb1-abc", "sb1-zz", "sb1-ABCD", "12"}) {
    EXPECT_EQ(DecodeListToken(bad).status().code(), absl::StatusCode::kAborted) << bad;
  }
}

std::vector<std::string> Collect(const std::vector<std::string>& ids, int32_t max) {
  std::vector<std::string> out;
  std::string token;
  for (int pages = 0; pages < 100; ++pages) {
    auto page = PageOf(ids, max, token);
    EXPECT_TRUE(page.ok()) << page.status();
    if (!page.ok()) break;
    for (size_t i = page->begin; i < page->end; ++i) out.push_back(ids[i]);
    if (page->next_token.empty()) break;
    token = page->next_token;
  }
  return out;
}

TEST(PageOfTest, WalksEveryEntryOnce) {
  std::vector<std::string> ids = {"a", "b", "c", "d", "e"};
  EXPECT_EQ(Collect(ids, 2), ids);
  EXPECT_EQ(Collect(ids, 1), ids);
  EXPECT_EQ(Collect(ids, 5), ids);
  EXPECT_EQ(Collect(ids, 0), ids);
  EXPECT_EQ(Collect({}, 3), std::vector<std::string>{});
}

TEST(PageOfTest, NoTokenOnTheLastPage) {
  std::vector<std::string> ids = {"a", "b", "c", "d"};
  auto first = PageOf(ids, 2, "");
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->end - first->begin, 2u);
  EXPECT_FALSE(first->next_token.empty());
  auto second = PageOf(ids, 2, first->next_token);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->begin, 2u);
  EXPECT_EQ(second->end, 4u);
  EXPECT_TRUE(second->next_token.empty());
}

TEST(PageOfTest, TokenSurvivesDeletionOfItsVolume) {
  std::vector<std::string> ids = {"a", "b", "c", "d"};
  auto first = PageOf(ids, 2, "");
  ASSERT_TRUE(first.ok());
  // "b" (the token's volume) is deleted and "bb" created between pages.
  std::vector<std::string> later = {"a", "bb", "c", "d"};
  auto second = PageOf(later, 10, first->next_token);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(later[second->begin], "bb");
  EXPECT_EQ(second->end, 4u);
}

TEST(PageOfTest, BadArguments) {
  EXPECT_EQ(PageOf({"a"}, -1, "").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PageOf({"a"}, 1, "garbage").status().code(), absl::StatusCode::kAborted);
}

}  // namespace
}  // namespace syncblock::csi
