// The TLS settings every syncblock connection shares: TLS 1.3 only, the
// peer's certificate required and verified against the cluster's CA, our
// own certificate presented. It follows its files: a session started after
// the CA, certificate or key changed on disk (a rotation) uses the new ones,
// while sessions already running keep theirs, so rotation needs no restart
// and breaks no connection. A rotation that leaves the files unusable (half
// written, key not matching) is logged and the previous set stays in use.
//
// Thread-safe.
#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "replication/security/tls_files.h"
#include "replication/util/mutex.h"

namespace syncblock::security {

class TlsContext {
 public:
  // Loads the files; the error names the file that is missing or bad.
  static absl::StatusOr<std::shared_ptr<TlsContext>> Load(const TlsFiles& files);

  // The context for a new session (reloaded first when a file changed; the
  // files are looked at no more than once a second).
  std::shared_ptr<SSL_CTX> Current();
  // Looks at the files now (SIGHUP). OK when nothing changed.
  absl::Status Reload();

  const TlsFiles& files() const { return files_; }

 private:
  struct Stamp {
    long long mtime_ns = 0;
    long long size = 0;
    unsigned long long inode = 0;
    bool operator==(const Stamp&) const = default;
  };
  struct Stamps {
    Stamp ca, cert, key;
    bool operator==(const Stamps&) const = default;
  };

  explicit TlsContext(TlsFiles files) : files_(std::move(files)) {}
  static absl::StatusOr<std::shared_ptr<SSL_CTX>> Build(const TlsFiles& files);
  Stamps StampFiles() const;

  const TlsFiles files_;
  Mutex mu_;
  std::shared_ptr<SSL_CTX> ctx_ ABSL_GUARDED_BY(mu_);
  Stamps stamps_ ABSL_GUARDED_BY(mu_);
  std::chrono::steady_clock::time_point checked_ ABSL_GUARDED_BY(mu_);
};

}  // namespace syncblock::security
