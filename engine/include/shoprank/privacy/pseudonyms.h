// Pseudonymised ids (issue 21): the personal columns a logs config lists are replaced, in
// the ETL and at every entry of the engine, by a keyed hash, HMAC-SHA256 with a key the
// user keeps in a file given at run time. The key is never written into any output; the
// artifacts carry only a check value that tells a wrong key from the right one.
//
//   integer id v   -> the first 8 bytes of HMAC(key, decimal text of v), big-endian, signed
//   text id s      -> lower-case hex of the first 16 bytes of HMAC(key, UTF-8 bytes of s)
//   list of text   -> each element as text
//
// Nulls stay null. The Python ETL calls the same code through the bindings.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "shoprank/io/json.h"
#include "shoprank/io/sha256.h"
#include "shoprank/transform/raw_batch.h"

namespace shoprank {

// The environment variable a key file may be named by (a served model reads it).
inline constexpr const char* kKeyFileVariable = "SHOPRANK_KEY_FILE";
// A key_file that loads artifacts with no key, the environment not read: for reading what
// they describe (export's own check), where a stale variable must not fail the load.
inline constexpr const char* kWithoutKey = "<without key>";
inline constexpr size_t kMinKeyBytes = 16;

// The key in a key file: its bytes, less one trailing newline. Throws naming the file when
// it cannot be read or holds fewer than kMinKeyBytes bytes.
std::string read_key_file(const std::string& path);

class Pseudonyms {
 public:
  explicit Pseudonyms(const std::string& key);  // at least kMinKeyBytes bytes

  int64_t of_int(int64_t value) const;
  std::string of_string(const std::string& value) const;
  // Every present value of an Int64, String or StringList column; other types throw.
  void apply(const std::string& name, RawColumn& column) const;
  // Identifies the key without revealing it: hex of 8 bytes of HMAC(key, a fixed text).
  std::string key_check() const;

 private:
  std::array<uint8_t, 32> hmac(const std::string& message) const;
  Sha256 inner_, outer_;  // the states after the padded key blocks
};

// The personal columns of artifacts (ranker.json "pseudonymised") and the key they were
// made with: `apply` replaces those columns of a batch by their pseudonyms.
class PseudonymisedColumns {
 public:
  // section: ranker.json's "pseudonymised"; key_file: the file, "" for the file the
  // environment names (kKeyFileVariable), or kWithoutKey. Throws when the key is not the one the artifacts
  // were made with. Without any key the artifacts load (export checks what it wrote, and
  // has no key), but every batch holding a personal column throws.
  PseudonymisedColumns(const json::Value& section, const std::string& key_file,
                       const std::string& folder);
  const std::vector<std::string>& columns() const { return columns_; }
  bool has_key() const { return pseudonyms_.has_value(); }
  // The key check of the key the artifacts were made with (not necessarily given).
  const std::string& made_with() const { return made_with_; }
  // Throws, naming the columns and where a key comes from, when no key was given.
  void require_key() const;
  void apply(RawBatch& batch) const;

 private:
  std::vector<std::string> columns_;
  std::string made_with_;
  std::optional<Pseudonyms> pseudonyms_;
  std::string folder_;
};

}  // namespace shoprank
