// A volume's data key (DEK), wrapped by a key derived from the secret the
// user holds (replication/doc/encryption.md, "Keys"):
//
//   KEK     = PBKDF2-HMAC-SHA256(secret, salt (16 random bytes), iterations)
//   wrapped = AES-256-GCM(KEK, nonce (12 random bytes), DEK,
//                         aad "syncblock-dek-v1:aes-256-xts")
//
// The wrapped form is one printable string, kept in the volume's manifest
// attribute kAttrWrappedKey on every replica, and copied with the ciphertext
// into clones. It holds no secret: without the secret it opens nothing. GCM's
// tag makes a wrong secret a precise error (PERMISSION_DENIED), never a wrong
// key and garbage data.
//
// Thread-safe (no state).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace syncblock::repl {

// Manifest attributes of an encrypted volume. Set at creation (or copied into
// a clone), never changed afterwards.
inline constexpr char kAttrCipher[] = "crypt.cipher";  // kCipherName
inline constexpr char kAttrWrappedKey[] = "crypt.wrapped-key";
inline constexpr char kAttrCryptPrefix[] = "crypt.";
inline constexpr char kCipherName[] = "aes-256-xts";
inline constexpr uint32_t kDefaultKdfIterations = 100000;

// kDataKeySize random bytes from OpenSSL's CSPRNG.
absl::StatusOr<std::string> NewDataKey();

// INVALID_ARGUMENT for an empty secret or a key of the wrong size.
absl::StatusOr<std::string> WrapDataKey(absl::string_view data_key, absl::string_view secret,
                                        uint32_t iterations = kDefaultKdfIterations);

// The data key inside `wrapped`. PERMISSION_DENIED when `secret` is not the
// one it was wrapped with; INVALID_ARGUMENT for an empty secret; DATA_LOSS
// when `wrapped` is not a wrapped key. Messages name `volume_id`, never the
// secret.
absl::StatusOr<std::string> UnwrapDataKey(absl::string_view wrapped, absl::string_view secret,
                                          absl::string_view volume_id);

// A new data key wrapped with `secret`: the attributes a new encrypted volume
// is created with.
absl::StatusOr<std::map<std::string, std::string>> NewEncryptionAttributes(
    absl::string_view secret, uint32_t iterations = kDefaultKdfIterations);

// The volume's attributes say it is encrypted.
bool IsEncrypted(const std::map<std::string, std::string>& attributes);

// A clone keeps its source's ciphertext, so it takes the source's encryption
// attributes (the same wrapped data key) over any in `clone`:
// INVALID_ARGUMENT when `clone` asks for encryption and the source has none
// (its data is not ciphertext).
absl::Status InheritEncryption(const std::map<std::string, std::string>& source,
                               std::map<std::string, std::string>* clone,
                               const std::string& clone_id, const std::string& source_id);

// `attributes` without the wrapped key, for people and scripts (it holds no
// secret, but has no use outside the storage nodes).
std::map<std::string, std::string> DisplayedAttributes(
    const std::map<std::string, std::string>& attributes);

}  // namespace syncblock::repl
