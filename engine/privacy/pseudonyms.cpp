#include "shoprank/privacy/pseudonyms.h"

#include <cstdlib>
#include <fstream>
#include <iterator>

#include "shoprank/errors.h"

namespace shoprank {

namespace {
constexpr const char* kCheckText = "shoprank key check";

const uint8_t* bytes(const std::string& text) {
  return reinterpret_cast<const uint8_t*>(text.data());
}
}  // namespace

std::string read_key_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  SHOPRANK_EXPECTS(file.good(), "key file ", path, ": cannot be read (not found?)");
  std::string key((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (!key.empty() && key.back() == '\n') key.pop_back();
  if (!key.empty() && key.back() == '\r') key.pop_back();
  SHOPRANK_EXPECTS(key.size() >= kMinKeyBytes, "key file ", path, ": ", key.size(),
                   " bytes; a key needs at least ", kMinKeyBytes,
                   " (make one with shoprank keygen FILE)");
  return key;
}

Pseudonyms::Pseudonyms(const std::string& key) {
  SHOPRANK_EXPECTS(key.size() >= kMinKeyBytes, "a pseudonym key needs at least ", kMinKeyBytes,
                   " bytes, got ", key.size());
  std::array<uint8_t, 64> block{};  // RFC 2104: a key longer than the block is hashed first
  if (key.size() > block.size()) {
    const auto digest = Sha256().update(bytes(key), key.size()).digest();
    std::copy(digest.begin(), digest.end(), block.begin());
  } else {
    std::copy(key.begin(), key.end(), block.begin());
  }
  std::array<uint8_t, 64> ipad, opad;
  for (size_t i = 0; i < block.size(); ++i) {
    ipad[i] = block[i] ^ 0x36;
    opad[i] = block[i] ^ 0x5c;
  }
  inner_.update(ipad.data(), ipad.size());
  outer_.update(opad.data(), opad.size());
}

std::array<uint8_t, 32> Pseudonyms::hmac(const std::string& message) const {
  const auto inner = Sha256(inner_).update(bytes(message), message.size()).digest();
  return Sha256(outer_).update(inner.data(), inner.size()).digest();
}

int64_t Pseudonyms::of_int(int64_t value) const {
  const auto digest = hmac(std::to_string(value));
  uint64_t out = 0;
  for (int i = 0; i < 8; ++i) out = (out << 8) | digest[i];
  return static_cast<int64_t>(out);
}

std::string Pseudonyms::of_string(const std::string& value) const {
  const auto digest = hmac(value);
  return to_hex(digest.data(), 16);
}

std::string Pseudonyms::key_check() const {
  const auto digest = hmac(kCheckText);
  return to_hex(digest.data(), 8);
}

void Pseudonyms::apply(const std::string& name, RawColumn& column) const {
  switch (column.type) {
    case InputType::Int64:
      for (int64_t r = 0; r < column.rows; ++r)
        if (column.present(r)) column.ints[r] = of_int(column.ints[r]);
      return;
    case InputType::String:
      for (int64_t r = 0; r < column.rows; ++r)
        if (column.present(r)) column.strings[r] = of_string(column.strings[r]);
      return;
    case InputType::StringList:
      for (size_t e = 0; e < column.strings.size(); ++e)
        if (column.element_present(int64_t(e))) column.strings[e] = of_string(column.strings[e]);
      return;
    default:
      detail::throw_invalid("column ", name, " is personal (pseudonymised) but of type ",
                            input_type_name(column.type), "; only int64, string and string "
                            "list columns can be");
  }
}

PseudonymisedColumns::PseudonymisedColumns(const json::Value& section,
                                           const std::string& key_file,
                                           const std::string& folder)
    : made_with_(section["key_check"].as_string()), folder_(folder) {
  for (const auto& c : section["columns"].items()) columns_.push_back(c.as_string());
  std::string path = key_file;
  if (path == kWithoutKey) return;
  if (path.empty()) {
    const char* named = std::getenv(kKeyFileVariable);
    path = named ? named : "";
  }
  if (path.empty()) return;
  pseudonyms_.emplace(read_key_file(path));
  SHOPRANK_EXPECTS(pseudonyms_->key_check() == made_with_, folder, ": key file ", path,
                   " is not the key these artifacts were made with (its check ",
                   pseudonyms_->key_check(), ", theirs ", made_with_, ")");
}

void PseudonymisedColumns::require_key() const {
  std::string names;
  for (const auto& name : columns_) names += (names.empty() ? "" : ", ") + name;
  SHOPRANK_EXPECTS(has_key(), folder_, ": the artifacts pseudonymise personal ids (", names,
                   "); give the key file they were made with (key_file=, --key-file or ",
                   kKeyFileVariable, ")");
}

void PseudonymisedColumns::apply(RawBatch& batch) const {
  for (const auto& name : columns_) {
    auto found = batch.find(name);
    if (found == batch.end() || found->second.rows == 0) continue;
    SHOPRANK_EXPECTS(pseudonyms_.has_value(), folder_, ": column ", name, " holds personal ids "
                     "the artifacts know only by pseudonym; load them with the key file they "
                     "were made with (key_file=, --key-file or ", kKeyFileVariable, ")");
    pseudonyms_->apply(name, found->second);
  }
}

}  // namespace shoprank
