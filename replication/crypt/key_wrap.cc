#include "replication/crypt/key_wrap.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <memory>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "replication/crypt/xts_cipher.h"
#include "replication/util/wipe.h"

namespace syncblock::repl {
namespace {

constexpr char kFormat[] = "syncblock-dek-v1";
constexpr char kKdf[] = "pbkdf2-sha256";
constexpr char kAad[] = "syncblock-dek-v1:aes-256-xts";
constexpr size_t kSaltSize = 16;
constexpr size_t kNonceSize = 12;
constexpr size_t kTagSize = 16;
constexpr size_t kKekSize = 32;
constexpr uint32_t kMaxIterations = 10000000;

struct CtxDeleter {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};

// Holds the key-encryption key and wipes it when done.
struct Kek {
  unsigned char bytes[kKekSize] = {};
  ~Kek() { OPENSSL_cleanse(bytes, sizeof(bytes)); }
};

absl::Status DeriveKek(absl::string_view secret, const std::string& salt, uint32_t iterations,
                       Kek* kek) {
  if (PKCS5_PBKDF2_HMAC(secret.data(), static_cast<int>(secret.size()),
                        reinterpret_cast<const unsigned char*>(salt.data()),
                        static_cast<int>(salt.size()), static_cast<int>(iterations), EVP_sha256(),
                        kKekSize, kek->bytes) != 1) {
    return absl::InternalError("PBKDF2 failed");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    return absl::InternalError("the random number generator failed");
  }
  return out;
}

// GCM seal (encrypt) or open; `in` is the plaintext or the ciphertext and tag.
absl::StatusOr<std::string> Gcm(bool seal, const Kek& kek, const std::string& nonce,
                                absl::string_view in) {
  std::unique_ptr<EVP_CIPHER_CTX, CtxDeleter> ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return absl::InternalError("no cipher context");
  if (!seal && in.size() < kTagSize) return absl::DataLossError("wrapped key too short");
  size_t body = seal ? in.size() : in.size() - kTagSize;
  std::string out(body, '\0');
  int n = 0;
  const auto* iv = reinterpret_cast<const unsigned char*>(nonce.data());
  if (EVP_CipherInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr, seal) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(nonce.size()),
                          nullptr) != 1 ||
      EVP_CipherInit_ex(ctx.get(), nullptr, nullptr, kek.bytes, iv, seal) != 1 ||
      EVP_CipherUpdate(ctx.get(), nullptr, &n, reinterpret_cast<const unsigned char*>(kAad),
                       sizeof(kAad) - 1) != 1 ||
      EVP_CipherUpdate(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &n,
                       reinterpret_cast<const unsigned char*>(in.data()),
                       static_cast<int>(body)) != 1) {
    WipeString(out);
    return absl::InternalError("AES-256-GCM failed");
  }
  if (seal) {
    int fin = 0;
    unsigned char tag[kTagSize];
    if (EVP_CipherFinal_ex(ctx.get(), nullptr, &fin) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagSize, tag) != 1) {
      return absl::InternalError("AES-256-GCM failed");
    }
    out.append(reinterpret_cast<char*>(tag), kTagSize);
    return out;
  }
  std::string tag(in.substr(body));
  int fin = 0;
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagSize, tag.data()) != 1 ||
      EVP_CipherFinal_ex(ctx.get(), nullptr, &fin) != 1) {
    WipeString(out);
    return absl::PermissionDeniedError("tag mismatch");
  }
  return out;
}

// A key file written by `echo` ends in a newline that a Kubernetes Secret's
// value (or a file written by `printf`) lacks: one trailing newline is not
// part of the secret.
absl::string_view TrimSecret(absl::string_view secret) {
  if (!secret.empty() && secret.back() == '\n') secret.remove_suffix(1);
  if (!secret.empty() && secret.back() == '\r') secret.remove_suffix(1);
  return secret;
}

// Lower- or upper-case hex of even length; false otherwise.
bool FromHex(absl::string_view hex, std::string* out) {
  if (hex.size() % 2 != 0) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  out->clear();
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
  }
  return true;
}

}  // namespace

absl::StatusOr<std::string> NewDataKey() {
  // XtsCipher refuses equal halves; a CSPRNG gives them with probability
  // 2^-256, but draw again rather than fail.
  for (int i = 0; i < 4; ++i) {
    absl::StatusOr<std::string> key = RandomBytes(kDataKeySize);
    if (!key.ok()) return key.status();
    if (XtsCipher::Create(*key).ok()) return key;
  }
  return absl::InternalError("the random number generator repeats itself");
}

absl::StatusOr<std::string> WrapDataKey(absl::string_view data_key, absl::string_view secret,
                                        uint32_t iterations) {
  secret = TrimSecret(secret);
  if (secret.empty()) return absl::InvalidArgumentError("the encryption secret is empty");
  if (data_key.size() != kDataKeySize) {
    return absl::InvalidArgumentError(
        absl::StrCat("a data key has ", kDataKeySize, " bytes, not ", data_key.size()));
  }
  if (iterations == 0 || iterations > kMaxIterations) {
    return absl::InvalidArgumentError(absl::StrCat("PBKDF2 iterations out of range: ", iterations));
  }
  absl::StatusOr<std::string> salt = RandomBytes(kSaltSize);
  if (!salt.ok()) return salt.status();
  absl::StatusOr<std::string> nonce = RandomBytes(kNonceSize);
  if (!nonce.ok()) return nonce.status();
  Kek kek;
  if (absl::Status s = DeriveKek(secret, *salt, iterations, &kek); !s.ok()) return s;
  absl::StatusOr<std::string> sealed = Gcm(true, kek, *nonce, data_key);
  if (!sealed.ok()) return sealed.status();
  return absl::StrCat(kFormat, ":", kKdf, ":", iterations, ":", absl::BytesToHexString(*salt), ":",
                      absl::BytesToHexString(*nonce), ":", absl::BytesToHexString(*sealed));
}

absl::StatusOr<std::string> UnwrapDataKey(absl::string_view wrapped, absl::string_view secret,
                                          absl::string_view volume_id) {
  secret = TrimSecret(secret);
  if (secret.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("volume ", volume_id, " is encrypted: the key given is empty"));
  }
  auto bad = [&](absl::string_view why) {
    return absl::DataLossError(
        absl::StrCat("volume ", volume_id, ": its wrapped data key is not valid (", why, ")"));
  };
  std::vector<absl::string_view> parts = absl::StrSplit(wrapped, ':');
  if (parts.size() != 6 || parts[0] != kFormat) return bad("unknown format");
  if (parts[1] != kKdf) return bad(absl::StrCat("unknown key derivation ", parts[1]));
  uint32_t iterations = 0;
  if (!absl::SimpleAtoi(parts[2], &iterations) || iterations == 0 || iterations > kMaxIterations) {
    return bad("iterations");
  }
  std::string salt, nonce, sealed;
  if (!FromHex(parts[3], &salt) || salt.size() != kSaltSize) return bad("salt");
  if (!FromHex(parts[4], &nonce) || nonce.size() != kNonceSize) return bad("nonce");
  if (!FromHex(parts[5], &sealed) || sealed.size() != kDataKeySize + kTagSize) {
    return bad("length");
  }
  Kek kek;
  if (absl::Status s = DeriveKek(secret, salt, iterations, &kek); !s.ok()) return s;
  absl::StatusOr<std::string> key = Gcm(false, kek, nonce, sealed);
  if (absl::IsPermissionDenied(key.status())) {
    return absl::PermissionDeniedError(
        absl::StrCat("volume ", volume_id,
                     " is encrypted and the key given is not its key (it does not unwrap the "
                     "volume's data key)"));
  }
  return key;
}

absl::StatusOr<std::map<std::string, std::string>> NewEncryptionAttributes(absl::string_view secret,
                                                                           uint32_t iterations) {
  absl::StatusOr<std::string> dek = NewDataKey();
  if (!dek.ok()) return dek.status();
  absl::StatusOr<std::string> wrapped = WrapDataKey(*dek, secret, iterations);
  WipeString(*dek);
  if (!wrapped.ok()) return wrapped.status();
  return std::map<std::string, std::string>{{kAttrCipher, kCipherName},
                                            {kAttrWrappedKey, *wrapped}};
}

absl::Status InheritEncryption(const std::map<std::string, std::string>& source,
                               std::map<std::string, std::string>* clone,
                               const std::string& clone_id, const std::string& source_id) {
  if (!IsEncrypted(source)) {
    if (IsEncrypted(*clone)) {
      return absl::InvalidArgumentError(
          absl::StrCat("volume ", clone_id, " cannot be an encrypted clone of ", source_id,
                       ", which is not encrypted (its data is not ciphertext)"));
    }
    return absl::OkStatus();
  }
  for (auto it = clone->begin(); it != clone->end();) {
    it = it->first.rfind(kAttrCryptPrefix, 0) == 0 ? clone->erase(it) : std::next(it);
  }
  for (const auto& [k, v] : source) {
    if (k.rfind(kAttrCryptPrefix, 0) == 0) (*clone)[k] = v;
  }
  return absl::OkStatus();
}

std::map<std::string, std::string> DisplayedAttributes(
    const std::map<std::string, std::string>& attributes) {
  std::map<std::string, std::string> out = attributes;
  out.erase(kAttrWrappedKey);
  return out;
}

bool IsEncrypted(const std::map<std::string, std::string>& attributes) {
  return attributes.count(kAttrCipher) > 0 || attributes.count(kAttrWrappedKey) > 0;
}

}  // namespace syncblock::repl
