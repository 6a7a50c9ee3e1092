// SHA-256 (FIPS 180-4), for checking artifact files against their manifest.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace shoprank {

// Lower-case hex digest of the bytes.
std::string sha256_hex(const uint8_t* data, size_t size);

}  // namespace shoprank
