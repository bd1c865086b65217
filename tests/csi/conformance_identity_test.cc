// CSI conformance: the Identity service.
#include "tests/csi/conformance_fixture.h"

namespace syncblock::csi::conformance {
namespace {

class CsiIdentityTest : public CsiConformanceTest {};

TEST_F(CsiIdentityTest, IdentityDescribesTheDriver) {
  GetPluginInfoResponse info;
  ASSERT_TRUE(Call(&Identity::Stub::GetPluginInfo, GetPluginInfoRequest(), &info).ok());
  EXPECT_EQ(info.name(), "csi.syncblock.dev");
  EXPECT_FALSE(info.vendor_version().empty());

  GetPluginCapabilitiesResponse caps;
  ASSERT_TRUE(
      Call(&Identity::Stub::GetPluginCapabilities, GetPluginCapabilitiesRequest(), &caps).ok());
  std::set<int> types;
  for (const auto& c : caps.capabilities()) {
    if (c.has_service()) types.insert(c.service().type());
  }
  // --mode all serves the controller, and with it changed-block tracking and
  // group snapshots.
  EXPECT_EQ(types, (std::set<int>{PluginCapability::Service::CONTROLLER_SERVICE,
                                  PluginCapability::Service::VOLUME_ACCESSIBILITY_CONSTRAINTS,
                                  PluginCapability::Service::SNAPSHOT_METADATA_SERVICE,
                                  PluginCapability::Service::GROUP_CONTROLLER_SERVICE}));
  std::set<int> expansion;
  for (const auto& c : caps.capabilities()) {
    if (c.has_volume_expansion()) expansion.insert(c.volume_expansion().type());
  }
  EXPECT_EQ(expansion, (std::set<int>{PluginCapability::VolumeExpansion::ONLINE}));

  ProbeResponse probe;
  ASSERT_TRUE(Call(&Identity::Stub::Probe, ProbeRequest(), &probe).ok());
  EXPECT_TRUE(probe.has_ready());
  EXPECT_TRUE(probe.ready().value());
}

}  // namespace
}  // namespace syncblock::csi::conformance
