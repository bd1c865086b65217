#include "csi/logging_interceptor.h"

#include <gtest/gtest.h>

#include "csi/proto/csi.pb.h"

namespace syncblock::csi {
namespace {

TEST(StripSecretsTest, SecretsNeverReachTheLogLine) {
  ::csi::v1::CreateVolumeRequest req;
  req.set_name("vol-1");
  (*req.mutable_secrets())["password"] = "hunter2";
  (*req.mutable_secrets())["user"] = "admin-user";
  (*req.mutable_parameters())["replicas"] = "3";
  std::string line = StripSecretsForLog(req);
  EXPECT_EQ(line.find("hunter2"), std::string::npos) << line;
  EXPECT_EQ(line.find("admin-user"), std::string::npos) << line;
  EXPECT_NE(line.find("vol-1"), std::string::npos) << line;
  EXPECT_NE(line.find("replicas"), std::string::npos) << line;
  EXPECT_NE(line.find("2 secrets stripped"), std::string::npos) << line;
  // The caller's message is untouched.
  EXPECT_EQ(req.secrets().size(), 2);
}

TEST(StripSecretsTest, LongMessagesAreCut) {
  ::csi::v1::CreateVolumeRequest req;
  req.set_name(std::string(100, 'x'));
  EXPECT_LE(StripSecretsForLog(req, 20).size(), 23u);
}

TEST(StripSecretsTest, MessagesWithoutSecretsAreUnchanged) {
  ::csi::v1::ControllerGetVolumeRequest req;
  req.set_volume_id("pvc-1");
  EXPECT_EQ(StripSecretsForLog(req), req.ShortDebugString());
}

}  // namespace
}  // namespace syncblock::csi
