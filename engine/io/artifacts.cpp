#include "shoprank/io/artifacts.h"

#include <fstream>
#include <iterator>

#include "shoprank/errors.h"
#include "shoprank/io/sha256.h"

namespace shoprank {

namespace {
std::vector<uint8_t> read_file(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  SHOPRANK_EXPECTS(in.good(), what, ": cannot open ", path);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  SHOPRANK_EXPECTS(!in.bad(), what, ": error reading ", path);
  return bytes;
}

bool plain_name(const std::string& name) {
  return !name.empty() && name.find('/') == std::string::npos &&
         name.find('\\') == std::string::npos && name != "." && name != "..";
}
}  // namespace

Artifacts load_artifacts(const std::string& folder) {
  const std::string where = "ranker artifacts " + folder;
  const std::string manifest_path = folder + "/manifest.json";
  std::ifstream probe(manifest_path);
  SHOPRANK_EXPECTS(probe.good(), where,
                   ": no manifest.json (not a folder written by shoprank export)");
  const auto manifest_bytes = read_file(manifest_path, where);
  Artifacts a;
  a.folder = folder;
  a.manifest = json::Value::parse(
      std::string_view(reinterpret_cast<const char*>(manifest_bytes.data()), manifest_bytes.size()),
      "manifest.json");
  SHOPRANK_EXPECTS(a.manifest.has("format") && a.manifest["format"].kind() == json::Value::Kind::String &&
                       a.manifest["format"].as_string() == kArtifactFormat,
                   where, ": manifest.json is not a shoprank ranker manifest");
  const int64_t version = a.manifest["version"].as_int();
  SHOPRANK_EXPECTS(version == kArtifactVersion, where, ": artifact format version ", version,
                   ", this engine reads version ", kArtifactVersion,
                   "; export the model again with this shoprank (shoprank export)");

  const json::Value& files = a.manifest["files"];
  std::vector<uint8_t> ranker_bytes, tensor_bytes;
  for (const auto& [name, entry] : files.members()) {  // every name first: read nothing outside
    SHOPRANK_EXPECTS(plain_name(name), where, ": manifest names a file outside the folder: ", name);
  }
  for (const auto& [name, entry] : files.members()) {
    auto bytes = read_file(folder + "/" + name, where);
    const int64_t expected = entry["bytes"].as_int();
    SHOPRANK_EXPECTS(int64_t(bytes.size()) == expected, where, ": ", name, " has ",
                     bytes.size(), " bytes, the manifest says ", expected,
                     " (truncated or modified since export)");
    const std::string digest = sha256_hex(bytes.data(), bytes.size());
    SHOPRANK_EXPECTS(digest == entry["sha256"].as_string(), where, ": ", name,
                     " does not match its SHA-256 in the manifest (modified since export)");
    if (name == "ranker.json") ranker_bytes = std::move(bytes);
    else if (name == "tensors.bin") tensor_bytes = std::move(bytes);
  }
  SHOPRANK_EXPECTS(files.has("ranker.json") && files.has("tensors.bin"), where,
                   ": the manifest must list ranker.json and tensors.bin");
  a.ranker = json::Value::parse(
      std::string_view(reinterpret_cast<const char*>(ranker_bytes.data()), ranker_bytes.size()),
      "ranker.json");
  a.tensors = TensorFile(std::move(tensor_bytes), "tensors.bin");
  return a;
}

}  // namespace shoprank
