#include "csi/storage_endpoints.h"

#include <gtest/gtest.h>

namespace syncblock::csi {
namespace {

TEST(StorageEndpointsTest, StaticListIsSortedAndUnique) {
  auto e = StorageEndpoints::Parse("10.0.0.2:7400, 10.0.0.1:7400,10.0.0.2:7400");
  ASSERT_TRUE(e.ok()) << e.status();
  auto r = e->Resolve();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, (std::vector<std::string>{"10.0.0.1:7400", "10.0.0.2:7400"}));
}

TEST(StorageEndpointsTest, DnsItemsResolveEveryARecord) {
  auto e = StorageEndpoints::Parse("dns:localhost:7400");
  ASSERT_TRUE(e.ok()) << e.status();
  auto r = e->Resolve();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NE(std::find(r->begin(), r->end(), "127.0.0.1:7400"), r->end());
}

TEST(StorageEndpointsTest, UnresolvableNameIsUnavailable) {
  auto e = StorageEndpoints::Parse("dns:no-such-host.invalid:7400");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->Resolve().status().code(), absl::StatusCode::kUnavailable);
  // With another address listed, the rest still works.
  auto mixed = StorageEndpoints::Parse("dns:no-such-host.invalid:7400,10.0.0.1:1");
  ASSERT_TRUE(mixed.ok());
  auto r = mixed->Resolve();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, std::vector<std::string>{"10.0.0.1:1"});
}

TEST(StorageEndpointsTest, BadSpecsAreInvalid) {
  for (const char* bad : {"", "host", "host:", ":7400", "dns:name", "host:port"}) {
    EXPECT_EQ(StorageEndpoints::Parse(bad).status().code(), absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST(ClusterProviderTest, ConnectsAgainOnlyWhenTheListChanges) {
  auto e = StorageEndpoints::Parse("127.0.0.1:1,127.0.0.1:2");
  ASSERT_TRUE(e.ok());
  std::vector<std::vector<std::string>> connects;
  ClusterProvider provider(*e, [&](std::vector<std::string> addresses) {
    connects.push_back(addresses);
    return repl::StorageCluster::Connect(addresses);
  });
  auto first = provider.Get();
  auto second = provider.Get();
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->get(), second->get());
  ASSERT_EQ(connects.size(), 1u);
  EXPECT_EQ(connects[0], (std::vector<std::string>{"127.0.0.1:1", "127.0.0.1:2"}));
}

}  // namespace
}  // namespace syncblock::csi
