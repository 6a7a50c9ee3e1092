// SHA-256 (FIPS 180-4): checking artifact files against their manifest, and the keyed hash
// of personal ids (privacy/pseudonyms.h).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace shoprank {

// Incremental SHA-256. A copy carries the state: hashing a shared prefix once and copying
// it (HMAC's padded key blocks) saves re-hashing it.
class Sha256 {
 public:
  Sha256();
  Sha256& update(const uint8_t* data, size_t size);
  std::array<uint8_t, 32> digest() const;  // of everything given so far; may update on after

 private:
  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> buffer_{};
  size_t buffered_ = 0;
  uint64_t total_ = 0;
};

// Lower-case hex digest of the bytes.
std::string sha256_hex(const uint8_t* data, size_t size);
// Lower-case hex of any bytes.
std::string to_hex(const uint8_t* bytes, size_t size);

}  // namespace shoprank
