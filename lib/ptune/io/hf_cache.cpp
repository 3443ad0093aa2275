// Offline resolution of Hub ids in the Hugging Face cache (see hf_cache.h). The layout follows
// huggingface_hub's file_download.py: repo folder "models--" + id with "/" -> "--", a ref file
// per branch or tag holding a commit hash, and one snapshot folder per commit.
#include "ptune/io/hf_cache.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>

#include "ptune/core/error.h"
#include "ptune/core/text.h"

namespace fs = std::filesystem;

namespace ptune {
namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : "";
}

// "org/name" with HF's allowed characters; no absolute or ./ paths, no "..".
bool is_hub_id(const std::string& id) {
  static const std::regex re(R"([A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*)");
  return std::regex_match(id, re) && id.find("..") == std::string::npos;
}

std::string read_ref(const fs::path& file) {
  std::ifstream in(file);
  std::string s;
  std::getline(in, s);
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

std::string hf_hub_cache_dir() {
  if (auto d = env("HF_HUB_CACHE"); !d.empty()) return d;
  if (auto d = env("HUGGINGFACE_HUB_CACHE"); !d.empty()) return d;  // huggingface_hub's old name
  if (auto d = env("HF_HOME"); !d.empty()) return d + "/hub";
  if (auto d = env("XDG_CACHE_HOME"); !d.empty()) return d + "/huggingface/hub";
  return env("HOME") + "/.cache/huggingface/hub";
}

std::string resolve_model_dir(const std::string& path) {
  std::error_code ec;
  if (path.empty() || fs::exists(path, ec)) return path;
  std::string id = path, revision = "main";
  if (auto at = path.find('@'); at != std::string::npos) {
    id = path.substr(0, at);
    revision = path.substr(at + 1);
  }
  if (!is_hub_id(id) || revision.empty() || revision.find('/') != std::string::npos)
    return path;  // not a Hub id: the loaders report the missing directory

  const std::string cache = hf_hub_cache_dir();
  std::string folder = "models--" + id;
  folder.replace(folder.find('/'), 1, "--");
  const fs::path repo = fs::path(cache) / folder;
  const std::string where = fmt::format(
      "'{}' is neither a directory nor a model in the Hugging Face cache (searched {}; the cache "
      "is $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub)",
      path, repo.string());
  if (!fs::is_directory(repo, ec))
    usage_error("{}; fetch it with `huggingface-cli download {}` or pass its directory", where, id);
  // A revision is a ref (branch or tag) holding a commit, or a commit itself.
  std::string commit = revision;
  if (fs::is_regular_file(repo / "refs" / revision, ec))
    commit = read_ref(repo / "refs" / revision);
  const fs::path snapshot = repo / "snapshots" / commit;
  if (commit.empty() || !fs::is_directory(snapshot, ec)) {
    std::vector<std::string> have;
    for (const auto& e : fs::directory_iterator(repo / "snapshots", ec))
      have.push_back(e.path().filename().string());
    std::sort(have.begin(), have.end());
    usage_error(
        "'{}': revision '{}' is not in the cache at {} (snapshots there: {}); pass "
        "{}@<commit> or the snapshot directory",
        path, revision, repo.string(),
        have.empty() ? std::string("none") : fmt::format("{}", fmt::join(have, ", ")), id);
  }
  return snapshot.string();
}

}  // namespace ptune
