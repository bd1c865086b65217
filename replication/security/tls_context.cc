#include "replication/security/tls_context.h"

#include <openssl/x509v3.h>
#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "replication/security/certificates.h"
#include "replication/util/logging.h"
#include "replication/util/status_macros.h"

namespace syncblock::security {
namespace {

constexpr auto kRecheckEvery = std::chrono::seconds(1);

absl::Status Bad(const std::string& what, const std::string& path) {
  // Names the file, never its content: the key is a secret.
  return absl::InvalidArgumentError(absl::StrCat(what, " ", path, ": ", OpenSslErrors()));
}

// OpenSSL 3.0 fills a certificate's cached extensions (key identifiers,
// purposes) on first use, under a lock for the writer but with an unlocked
// check for readers, so two handshakes verifying against the same CA at once
// race on it (ThreadSanitizer sees one thread's memcmp of a key identifier the
// other is still allocating). Filling them while the context is built, before
// any handshake can share it, leaves handshakes only reading.
void FillCertificateCaches(SSL_CTX* c) {
  STACK_OF(X509_OBJECT)* objects = X509_STORE_get0_objects(SSL_CTX_get_cert_store(c));
  for (int i = 0; i < sk_X509_OBJECT_num(objects); ++i) {
    X509* x = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objects, i));
    if (x != nullptr) X509_check_purpose(x, -1, 0);
  }
  if (X509* own = SSL_CTX_get0_certificate(c)) X509_check_purpose(own, -1, 0);
  STACK_OF(X509)* chain = nullptr;
  if (SSL_CTX_get0_chain_certs(c, &chain) == 1) {
    for (int i = 0; i < sk_X509_num(chain); ++i) X509_check_purpose(sk_X509_value(chain, i), -1, 0);
  }
}

}  // namespace

absl::StatusOr<std::shared_ptr<TlsContext>> TlsContext::Load(const TlsFiles& files) {
  if (files.insecure) return absl::FailedPreconditionError("TLS is off (--insecure)");
  RETURN_IF_ERROR(files.Validate());
  std::shared_ptr<TlsContext> ctx(new TlsContext(files));
  Stamps stamps = ctx->StampFiles();
  ASSIGN_OR_RETURN(auto built, Build(files));
  MutexLock l(&ctx->mu_);
  ctx->ctx_ = std::move(built);
  ctx->stamps_ = stamps;
  ctx->checked_ = std::chrono::steady_clock::now();
  return ctx;
}

absl::StatusOr<std::shared_ptr<SSL_CTX>> TlsContext::Build(const TlsFiles& files) {
  std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_method()), SSL_CTX_free);
  if (!ctx)
    return absl::InternalError(absl::StrCat("cannot make a TLS context: ", OpenSslErrors()));
  SSL_CTX* c = ctx.get();
  SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION);
  // AES-128-GCM first (server's choice): a third cheaper than AES-256 per
  // byte on the data paths, and 128-bit security is what TLS 1.3 requires.
  SSL_CTX_set_ciphersuites(
      c, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256");
  SSL_CTX_set_options(c, SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Read ahead with a large buffer: one read(2) takes many records instead
  // of two system calls (header, body) per 16 KiB record.
  SSL_CTX_set_read_ahead(c, 1);
  SSL_CTX_set_default_read_buffer_len(c, 256 * 1024);
  // No session tickets: no post-handshake messages, and nothing to resume
  // a session with once a certificate is rotated out.
  SSL_CTX_set_num_tickets(c, 0);
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
  // Our protocols frame their own messages, so a peer that closes without
  // close_notify (qemu does) is an end of stream, not an attack.
  SSL_CTX_set_options(c, SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_mode(
      c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_AUTO_RETRY);
  SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  if (SSL_CTX_load_verify_locations(c, files.ca.c_str(), nullptr) != 1) {
    return Bad("cannot load the CA certificate", files.ca);
  }
  if (SSL_CTX_use_certificate_chain_file(c, files.cert.c_str()) != 1) {
    return Bad("cannot load the certificate", files.cert);
  }
  if (SSL_CTX_use_PrivateKey_file(c, files.key.c_str(), SSL_FILETYPE_PEM) != 1) {
    return Bad("cannot load the private key", files.key);
  }
  if (SSL_CTX_check_private_key(c) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("the private key ", files.key,
                                                   " does not match the certificate ", files.cert));
  }
  FillCertificateCaches(c);
  return ctx;
}

TlsContext::Stamps TlsContext::StampFiles() const {
  auto stamp = [](const std::string& path) {
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) return Stamp{};
    return Stamp{static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec,
                 static_cast<long long>(st.st_size), static_cast<unsigned long long>(st.st_ino)};
  };
  return Stamps{stamp(files_.ca), stamp(files_.cert), stamp(files_.key)};
}

absl::Status TlsContext::Reload() {
  Stamps now = StampFiles();
  {
    MutexLock l(&mu_);
    checked_ = std::chrono::steady_clock::now();
    if (now == stamps_) return absl::OkStatus();
  }
  // Built outside the lock: loading reads files.
  auto built = Build(files_);
  MutexLock l(&mu_);
  if (!built.ok()) {
    // Tried again only when the files change once more, so a rotation caught
    // half-way is logged once, not every second.
    stamps_ = now;
    return built.status();
  }
  ctx_ = *std::move(built);
  stamps_ = now;
  spdlog::info("TLS: new sessions use the changed files {}, {}, {}", files_.ca, files_.cert,
               files_.key);
  return absl::OkStatus();
}

std::shared_ptr<SSL_CTX> TlsContext::Current() {
  bool due;
  {
    MutexLock l(&mu_);
    due = std::chrono::steady_clock::now() - checked_ >= kRecheckEvery;
  }
  if (due) {
    absl::Status s = Reload();
    if (!s.ok()) {
      spdlog::error("TLS files changed but cannot be used; keeping the previous ones: {}",
                    s.message());
    }
  }
  MutexLock l(&mu_);
  return ctx_;
}

}  // namespace syncblock::security
