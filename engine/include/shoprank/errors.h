// Error handling for the engine: one precondition macro and one device-failure exception.
#pragma once

#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

namespace shoprank {

// Raised when a device (CUDA) call fails or no device is usable; bindings map it to
// shoprank.DeviceError. Bad arguments raise std::invalid_argument instead.
class DeviceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
// Messages are built with std::to_string / snprintf rather than iostreams: number
// formatting through std::locale crashed inside one host process whose loaded libraries
// disagreed about libstdc++'s locale facets (seen on a GPU machine with NumPy 2.5).
inline std::string to_text(std::string_view text) { return std::string(text); }
template <typename T, typename = std::enable_if_t<std::is_arithmetic_v<T>>>
std::string to_text(T value) {
  if constexpr (std::is_same_v<T, bool>) {
    return value ? "true" : "false";
  } else if constexpr (std::is_integral_v<T>) {
    return std::to_string(value);
  } else {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%g", static_cast<double>(value));
    return buffer;
  }
}

template <typename... Parts>
[[noreturn]] void throw_invalid(const Parts&... parts) {
  std::string message;
  (message += ... += to_text(parts));
  throw std::invalid_argument(message);
}
}  // namespace detail

}  // namespace shoprank

// Checks a precondition on the caller's input; the message names the argument at fault.
#define SHOPRANK_EXPECTS(condition, ...)                                          \
  do {                                                                          \
    if (!(condition)) ::shoprank::detail::throw_invalid(__VA_ARGS__); \
  } while (0)
