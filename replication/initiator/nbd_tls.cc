#include "replication/initiator/nbd_tls.h"

#include "absl/synchronization/mutex.h"
#include "replication/security/certificate_dir.h"

namespace syncblock::repl::initiator {
namespace {

struct State {
  absl::Mutex mu;
  std::optional<security::TlsFiles> files ABSL_GUARDED_BY(mu);
  std::shared_ptr<security::TlsContext> context ABSL_GUARDED_BY(mu);
  std::string dir ABSL_GUARDED_BY(mu);
};

State& Get() {
  static State* state = new State;
  return *state;
}

}  // namespace

void SetNbdClientTls(const security::TlsFiles& files) {
  State& s = Get();
  absl::MutexLock l(&s.mu);
  s.files = files;
  s.context.reset();
  s.dir.clear();
}

std::optional<security::TlsFiles> NbdClientTls() {
  State& s = Get();
  absl::MutexLock l(&s.mu);
  return s.files;
}

bool NbdClientTlsEnabled() {
  State& s = Get();
  absl::MutexLock l(&s.mu);
  return s.files.has_value() && s.files->enabled();
}

absl::StatusOr<std::shared_ptr<security::TlsContext>> NbdClientTlsContext() {
  State& s = Get();
  absl::MutexLock l(&s.mu);
  if (!s.files || !s.files->enabled()) {
    return absl::FailedPreconditionError("no TLS files for NBD connections");
  }
  if (!s.context) {
    auto ctx = security::TlsContext::Load(*s.files);
    if (!ctx.ok()) return ctx.status();
    s.context = *std::move(ctx);
  }
  return s.context;
}

absl::StatusOr<std::string> NbdClientCertificateDir() {
  State& s = Get();
  absl::MutexLock l(&s.mu);
  if (!s.files || !s.files->enabled()) {
    return absl::FailedPreconditionError("no TLS files for NBD connections");
  }
  if (s.dir.empty()) {
    auto dir = security::ClientCertificateDir(*s.files);
    if (!dir.ok()) return dir.status();
    s.dir = *dir;
  }
  return s.dir;
}

}  // namespace syncblock::repl::initiator
