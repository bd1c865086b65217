// nbd:// URIs as the initiator parses them (publish context, fuse-export --uri).
#include <gtest/gtest.h>

#include "replication/initiator/nbd_client.h"

namespace syncblock::repl::initiator {
namespace {

TEST(NbdUriTest, Parses) {
  auto u = ParseNbdUri("nbd://10.0.0.5:10811/pvc-1234");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->host, "10.0.0.5");
  EXPECT_EQ(u->port, 10811);
  EXPECT_EQ(u->export_name, "pvc-1234");
  EXPECT_EQ(u->ToString(), "nbd://10.0.0.5:10811/pvc-1234");

  auto v6 = ParseNbdUri("nbd://[::1]:9000/v");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 9000);
  EXPECT_EQ(v6->ToString(), "nbd://[::1]:9000/v");

  auto default_port = ParseNbdUri("nbd://storage-0/vol");
  ASSERT_TRUE(default_port.ok());
  EXPECT_EQ(default_port->port, 10809);

  EXPECT_FALSE(ParseNbdUri("http://x/y").ok());
  EXPECT_FALSE(ParseNbdUri("nbd://:80/y").ok());
  EXPECT_FALSE(ParseNbdUri("nbd://h:99999/y").ok());
  EXPECT_FALSE(ParseNbdUri("nbd://h:abc/y").ok());
}

}  // namespace
}  // namespace syncblock::repl::initiator
