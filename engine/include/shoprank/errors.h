// Error handling for the engine: one precondition macro and one device-failure exception.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace shoprank {

// Raised when a device (CUDA) call fails or no device is usable; bindings map it to
// shoprank.DeviceError. Bad arguments raise std::invalid_argument instead.
class DeviceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
template <typename... Parts>
[[noreturn]] void throw_invalid(const char* file, int line, const Parts&... parts) {
  std::ostringstream message;
  (message << ... << parts);
  (void)file;
  (void)line;
  throw std::invalid_argument(message.str());
}
}  // namespace detail

}  // namespace shoprank

// Checks a precondition on the caller's input; the message names the argument at fault.
#define SHOPRANK_EXPECTS(condition, ...)                                          \
  do {                                                                          \
    if (!(condition)) ::shoprank::detail::throw_invalid(__FILE__, __LINE__, __VA_ARGS__); \
  } while (0)
