#include "replication/crypt/xts_cipher.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace syncblock::repl {
namespace {

struct CtxDeleter {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using Ctx = std::unique_ptr<EVP_CIPHER_CTX, CtxDeleter>;

void TweakBytes(uint64_t tweak, unsigned char out[16]) {
  memset(out, 0, 16);
  for (int i = 0; i < 8; ++i) out[i] = static_cast<unsigned char>(tweak >> (8 * i));
}

// One context keyed once; each data unit sets only its tweak.
class Session {
 public:
  Session(bool encrypt, const unsigned char* key) : encrypt_(encrypt), ctx_(EVP_CIPHER_CTX_new()) {
    ok_ = ctx_ && EVP_CipherInit_ex(ctx_.get(), EVP_aes_256_xts(), nullptr, key, nullptr,
                                    encrypt ? 1 : 0) == 1;
  }
  absl::Status Unit(uint64_t tweak, const char* in, char* out, size_t len) {
    if (!ok_) return absl::InternalError("AES-256-XTS is not available from OpenSSL");
    unsigned char iv[16];
    TweakBytes(tweak, iv);
    int n = 0;
    if (EVP_CipherInit_ex(ctx_.get(), nullptr, nullptr, nullptr, iv, encrypt_ ? 1 : 0) != 1 ||
        EVP_CipherUpdate(ctx_.get(), reinterpret_cast<unsigned char*>(out), &n,
                         reinterpret_cast<const unsigned char*>(in), static_cast<int>(len)) != 1 ||
        static_cast<size_t>(n) != len) {
      return absl::InternalError(absl::StrCat("AES-256-XTS failed on data unit ", tweak));
    }
    return absl::OkStatus();
  }

 private:
  const bool encrypt_;
  Ctx ctx_;
  bool ok_ = false;
};

}  // namespace

bool AllZero(const char* p, size_t len) {
  // Word-wise; the buffers are block-sized.
  size_t i = 0;
  for (; i + sizeof(uint64_t) <= len; i += sizeof(uint64_t)) {
    uint64_t w;
    memcpy(&w, p + i, sizeof(w));
    if (w != 0) return false;
  }
  for (; i < len; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

absl::StatusOr<std::unique_ptr<XtsCipher>> XtsCipher::Create(absl::string_view key) {
  if (key.size() != kDataKeySize) {
    return absl::InvalidArgumentError(
        absl::StrCat("an AES-256-XTS key has ", kDataKeySize, " bytes, not ", key.size()));
  }
  if (CRYPTO_memcmp(key.data(), key.data() + kDataKeySize / 2, kDataKeySize / 2) == 0) {
    return absl::InvalidArgumentError("the two halves of an AES-256-XTS key must differ");
  }
  std::unique_ptr<XtsCipher> c(new XtsCipher());
  memcpy(c->key_, key.data(), kDataKeySize);
  return c;
}

XtsCipher::~XtsCipher() { OPENSSL_cleanse(key_, sizeof(key_)); }

absl::Status XtsCipher::Encrypt(uint64_t tweak, const char* in, char* out, size_t len) const {
  if (len < 16) return absl::InvalidArgumentError("XTS needs at least 16 bytes");
  return Session(true, key_).Unit(tweak, in, out, len);
}

absl::Status XtsCipher::Decrypt(uint64_t tweak, const char* in, char* out, size_t len) const {
  if (len < 16) return absl::InvalidArgumentError("XTS needs at least 16 bytes");
  return Session(false, key_).Unit(tweak, in, out, len);
}

absl::Status XtsCipher::EncryptBlocks(uint64_t first_block, const char* in, char* out,
                                      size_t len) const {
  return Blocks(true, first_block, in, out, len);
}

absl::Status XtsCipher::DecryptBlocks(uint64_t first_block, const char* in, char* out,
                                      size_t len) const {
  return Blocks(false, first_block, in, out, len);
}

absl::Status XtsCipher::Blocks(bool encrypt, uint64_t first_block, const char* in, char* out,
                               size_t len) const {
  if (len % kCryptBlockSize != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(len, " bytes are not whole blocks of ", kCryptBlockSize));
  }
  Session s(encrypt, key_);
  for (size_t off = 0; off < len; off += kCryptBlockSize) {
    if (AllZero(in + off, kCryptBlockSize)) {
      if (out != in) memset(out + off, 0, kCryptBlockSize);
      continue;
    }
    absl::Status st =
        s.Unit(first_block + off / kCryptBlockSize, in + off, out + off, kCryptBlockSize);
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

}  // namespace syncblock::repl
