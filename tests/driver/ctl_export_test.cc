// `ctl export` for a person with TLS: the client options it prints must be
// the ones nbdinfo/nbdcopy (libnbd URI query) and qemu (tls-creds-x509 with
// a directory) take; nbd_tls_test.cc runs those same options against a TLS
// export.
#include "driver/ctl_export.h"

#include <gtest/gtest.h>

#include <vector>

namespace syncblock::driver {
namespace {

Flags Parse(std::vector<const char*> args) {
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>("ctl"));
  for (const char* a : args) argv.push_back(const_cast<char*>(a));
  return *Flags::Parse(static_cast<int>(argv.size()), argv.data());
}

TEST(CtlExportTest, ClientOptionsForLibnbdAndQemu) {
  auto c = DescribeExportClients("nbds://10.0.0.7:7402/pvc-1", "/c/tls/admin.nbd");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->libnbd_uri, "nbds://10.0.0.7:7402/pvc-1?tls-certificates=/c/tls/admin.nbd");
  EXPECT_EQ(c->nbdinfo, "nbdinfo 'nbds://10.0.0.7:7402/pvc-1?tls-certificates=/c/tls/admin.nbd'");
  EXPECT_EQ(c->qemu_object, "tls-creds-x509,id=tls0,dir=/c/tls/admin.nbd,endpoint=client");
  EXPECT_EQ(c->qemu_drive, "driver=nbd,host=10.0.0.7,port=7402,export=pvc-1,tls-creds=tls0");
  EXPECT_EQ(c->qemu_img,
            "qemu-img info --object tls-creds-x509,id=tls0,dir=/c/tls/admin.nbd,endpoint=client "
            "--image-opts driver=nbd,host=10.0.0.7,port=7402,export=pvc-1,tls-creds=tls0");
  std::string text = FormatExportClients(*c, "admin (admin)");
  EXPECT_NE(text.find("admin (admin)"), std::string::npos) << text;
  EXPECT_NE(text.find(c->nbdcopy), std::string::npos) << text;
  EXPECT_FALSE(DescribeExportClients("http://x/y", "/d").ok());
}

TEST(CtlExportTest, AdminFilesFromTheClusterOrTheFlags) {
  auto files = AdminTlsFiles(Parse({"--cluster", "/c"}));
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_EQ(files->ca, "/c/tls/ca.crt");
  EXPECT_EQ(files->cert, "/c/tls/admin.crt");
  EXPECT_EQ(files->key, "/c/tls/admin.key");
  files =
      AdminTlsFiles(Parse({"--cluster", "/c", "--tls-cert", "/me.crt", "--tls-key", "/me.key"}));
  ASSERT_TRUE(files.ok());
  EXPECT_EQ(files->cert, "/me.crt");
  EXPECT_EQ(files->ca, "/c/tls/ca.crt");
  EXPECT_FALSE(AdminTlsFiles(Parse({})).ok());
}

}  // namespace
}  // namespace syncblock::driver
