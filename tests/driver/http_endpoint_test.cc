#include "driver/http_endpoint.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <future>

namespace syncblock::driver {
namespace {

TEST(HttpEndpointTest, ServesMetricsAndHealth) {
  bool healthy = true;
  HttpEndpoint endpoint(
      [] { return std::string("syncblock_up 1\n"); },
      [&] { return healthy ? absl::OkStatus() : absl::UnavailableError("no disk"); });
  ASSERT_TRUE(endpoint.Start("127.0.0.1", 0).ok());
  httplib::Client client("127.0.0.1", endpoint.port());
  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(metrics->body, "syncblock_up 1\n");
  auto health = client.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  healthy = false;
  health = client.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 503);
  EXPECT_EQ(health->body, "no disk\n");
}

// A daemon that fails right after starting its endpoint (its next port is
// taken) stops it at once: that must not wait for a listen loop that had not
// begun when stop was asked (it then accepted forever).
TEST(HttpEndpointTest, StoppingRightAfterStartReturns) {
  auto done = std::async(std::launch::async, [] {
    for (int i = 0; i < 200; ++i) {
      HttpEndpoint endpoint([] { return std::string(); }, [] { return absl::OkStatus(); });
      if (!endpoint.Start("127.0.0.1", 0).ok()) return false;
    }
    return true;
  });
  ASSERT_EQ(done.wait_for(std::chrono::seconds(60)), std::future_status::ready)
      << "an endpoint stopped right after Start hung";
  EXPECT_TRUE(done.get());
}

TEST(HttpEndpointTest, ATakenPortIsAPreciseError) {
  HttpEndpoint first([] { return std::string(); }, [] { return absl::OkStatus(); });
  ASSERT_TRUE(first.Start("127.0.0.1", 0).ok());
  HttpEndpoint second([] { return std::string(); }, [] { return absl::OkStatus(); });
  absl::Status s = second.Start("127.0.0.1", first.port());
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(s.message().find(std::to_string(first.port())), std::string::npos) << s;
  EXPECT_NE(s.message().find("already in use"), std::string::npos) << s;
}

}  // namespace
}  // namespace syncblock::driver
