// The GnuTLS-style certificate directory libnbd and qemu read: next to the
// certificate when that directory is writable, else a private directory
// under $TMPDIR, since in a pod the certificate sits on a read-only Secret
// mount.
#include "replication/security/certificate_dir.h"

#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <filesystem>

#include "replication/security/certificates.h"
#include "tests/support/test_pki.h"
#include "tests/support/test_util.h"

namespace syncblock::security {
namespace {

using syncblock::testing::ReadFile;
using syncblock::testing::TempDir;
using syncblock::testing::TestPki;

void ExpectLinksTo(const std::string& dir, const TlsFiles& files) {
  EXPECT_EQ(ReadFile(dir + "/ca-cert.pem"), ReadFile(files.ca));
  EXPECT_EQ(ReadFile(dir + "/client-cert.pem"), ReadFile(files.cert));
  EXPECT_EQ(ReadFile(dir + "/client-key.pem"), ReadFile(files.key));
  EXPECT_TRUE(std::filesystem::is_symlink(dir + "/client-key.pem")) << "the key is not copied";
}

TEST(CertificateDirTest, SitsNextToTheCertificate) {
  TempDir dir;
  TestPki pki(dir.path());
  TlsFiles files = pki.Issue("admin", kRoleAdmin);
  auto made = ClientCertificateDir(files);
  ASSERT_TRUE(made.ok()) << made.status();
  EXPECT_EQ(*made, dir.Join("admin.nbd"));
  ExpectLinksTo(*made, files);
  EXPECT_FALSE(ClientCertificateDir(TlsFiles{"", "", "", true}).ok());
}

TEST(CertificateDirTest, AReadOnlyCertificateDirectoryGetsAPrivateOneElsewhere) {
  TempDir dir, tmp;
  TestPki pki(dir.path());
  TlsFiles files = pki.Issue("host-1", kRoleNode);
  // A read-only view of the directory, as a Secret is mounted in a pod.
  const std::string ro = tmp.Join("ro");
  std::filesystem::create_directories(ro);
  if (mount(dir.path().c_str(), ro.c_str(), nullptr, MS_BIND, nullptr) != 0 ||
      mount(nullptr, ro.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) != 0) {
    umount(ro.c_str());
    GTEST_SKIP() << "cannot make a read-only bind mount here";
  }
  struct Unmount {
    std::string path;
    ~Unmount() { umount(path.c_str()); }
  } unmount{ro};
  TlsFiles mounted{ro + "/ca.crt", ro + "/host-1.crt", ro + "/host-1.key"};
  const char* old_tmpdir = getenv("TMPDIR");
  std::string saved = old_tmpdir != nullptr ? old_tmpdir : "";
  setenv("TMPDIR", tmp.path().c_str(), 1);
  auto made = ClientCertificateDir(mounted);
  auto again = ClientCertificateDir(mounted);
  if (saved.empty()) {
    unsetenv("TMPDIR");
  } else {
    setenv("TMPDIR", saved.c_str(), 1);
  }
  ASSERT_TRUE(made.ok()) << made.status();
  EXPECT_EQ(made->rfind(tmp.path() + "/syncblock-nbd-certs-", 0), 0u) << *made;
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *made) << "the same certificate gets the same directory";
  struct stat st {};
  ASSERT_EQ(stat(std::filesystem::path(*made).parent_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 077, 0u) << "nobody else may put links in it";
  ExpectLinksTo(*made, files);
  EXPECT_FALSE(std::filesystem::exists(ro + "/host-1.nbd"));
}

}  // namespace
}  // namespace syncblock::security
