#include "replication/security/certificate_dir.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "replication/util/status_macros.h"

namespace syncblock::security {
namespace {

namespace fs = std::filesystem;

absl::Status Link(const std::string& target, const std::string& link) {
  std::error_code ec;
  if (fs::is_symlink(link, ec) && fs::read_symlink(link, ec) == fs::path(target)) {
    return absl::OkStatus();
  }
  std::string tmp = absl::StrCat(link, ".tmp.", ::getpid());
  ::unlink(tmp.c_str());
  if (::symlink(target.c_str(), tmp.c_str()) != 0 || ::rename(tmp.c_str(), link.c_str()) != 0) {
    std::string err = std::strerror(errno);
    ::unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat("cannot link ", link, " to ", target, ": ", err));
  }
  return absl::OkStatus();
}

std::string NextToCertificate(const std::string& cert) {
  std::string stem = cert;
  for (const char* ext : {".crt", ".pem", ".cert"}) {
    if (absl::EndsWith(stem, ext)) {
      stem.resize(stem.size() - std::strlen(ext));
      break;
    }
  }
  return absl::StrCat(stem, ".nbd");
}

// $TMPDIR/syncblock-nbd-certs-<uid>/<hash of the certificate's path>: the
// parent is ours alone (0700), so nobody else can put links in it.
absl::StatusOr<std::string> PrivateDir(const std::string& cert) {
  const char* tmp = std::getenv("TMPDIR");
  const std::string parent = absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp",
                                          "/syncblock-nbd-certs-", ::getuid());
  if (::mkdir(parent.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::InternalError(absl::StrCat("cannot make ", parent, ": ", std::strerror(errno)));
  }
  struct stat st {};
  if (::lstat(parent.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::getuid() ||
      (st.st_mode & 077) != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat(parent, " is not a private directory of this user: not using it"));
  }
  return absl::StrCat(parent, "/", absl::Hex(std::hash<std::string>{}(cert)));
}

}  // namespace

absl::StatusOr<std::string> ClientCertificateDir(const TlsFiles& files) {
  if (files.insecure) return absl::InvalidArgumentError("TLS is off (--insecure)");
  if (absl::Status s = files.Validate(); !s.ok()) return s;
  std::error_code ec;
  // Absolute targets: the links must not depend on the directory they sit in.
  auto abs = [&](const std::string& p) { return fs::absolute(p, ec).lexically_normal().string(); };
  const std::string cert = abs(files.cert);
  std::string dir = NextToCertificate(cert);
  if (!fs::create_directories(dir, ec) && ec) {
    std::error_code next_ec = ec;
    ASSIGN_OR_RETURN(dir, PrivateDir(cert));
    fs::create_directories(dir, ec);
    if (ec) {
      return absl::InternalError(absl::StrCat("cannot make ", NextToCertificate(cert), " (",
                                              next_ec.message(), ") nor ", dir, ": ",
                                              ec.message()));
    }
  }
  RETURN_IF_ERROR(Link(abs(files.ca), dir + "/ca-cert.pem"));
  RETURN_IF_ERROR(Link(cert, dir + "/client-cert.pem"));
  RETURN_IF_ERROR(Link(abs(files.key), dir + "/client-key.pem"));
  return dir;
}

}  // namespace syncblock::security
