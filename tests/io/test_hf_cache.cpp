// Hub ids resolved offline in a Hugging Face cache laid out as huggingface_hub writes it
// (models--org--name/refs/main, snapshots/<commit>/), with the environment's precedence.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "error_helpers.h"
#include "ptune/io/hf_cache.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace ptune {
namespace {

// Sets (or, with nullptr, unsets) an environment variable for one test, then restores it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old, had_ = true;
    value ? ::setenv(name, value, 1) : ::unsetenv(name);
  }
  ~ScopedEnv() { had_ ? ::setenv(name_, old_.c_str(), 1) : ::unsetenv(name_); }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

// <cache>/models--org--name with refs/main -> `commit` and that snapshot holding config.json.
std::string make_cached_model(const std::string& cache, const std::string& commit) {
  const std::string repo = cache + "/models--HuggingFaceTB--SmolLM2-360M";
  fs::create_directories(repo + "/refs");
  fs::create_directories(repo + "/snapshots/" + commit);
  fs::create_directories(repo + "/snapshots/0000older");
  test::write_text(repo + "/refs/main", commit);  // huggingface_hub writes no newline
  test::write_text(repo + "/snapshots/" + commit + "/config.json", "{}");
  return repo + "/snapshots/" + commit;
}

TEST(HfCache, CacheDirFollowsHuggingfaceHubPrecedence) {
  ScopedEnv a("HF_HUB_CACHE", "/x/hub"), b("HF_HOME", "/y"), c("XDG_CACHE_HOME", "/z"),
      d("HUGGINGFACE_HUB_CACHE", nullptr), e("HOME", "/home/u");
  EXPECT_EQ(hf_hub_cache_dir(), "/x/hub");
  ScopedEnv a2("HF_HUB_CACHE", nullptr);
  EXPECT_EQ(hf_hub_cache_dir(), "/y/hub");
  ScopedEnv b2("HF_HOME", nullptr);
  EXPECT_EQ(hf_hub_cache_dir(), "/z/huggingface/hub");
  ScopedEnv c2("XDG_CACHE_HOME", nullptr);
  EXPECT_EQ(hf_hub_cache_dir(), "/home/u/.cache/huggingface/hub");
}

TEST(HfCache, HubIdResolvesToTheSnapshotOfRefsMain) {
  test::TempDir t;
  const std::string snap = make_cached_model(t / "hub", "a1b2c3d4");
  ScopedEnv a("HF_HUB_CACHE", nullptr), b("HF_HOME", t.path().c_str());
  EXPECT_EQ(resolve_model_dir("HuggingFaceTB/SmolLM2-360M"), snap);
  EXPECT_EQ(resolve_model_dir("HuggingFaceTB/SmolLM2-360M@0000older"),
            t / "hub/models--HuggingFaceTB--SmolLM2-360M/snapshots/0000older");
  // Paths that exist, and strings that are no Hub id, are left to the loaders.
  EXPECT_EQ(resolve_model_dir(t.path()), t.path());
  EXPECT_EQ(resolve_model_dir("./not/there"), "./not/there");
  EXPECT_EQ(resolve_model_dir("/abs/dir"), "/abs/dir");
  EXPECT_EQ(resolve_model_dir(""), "");
}

TEST(HfCache, MissingModelOrRevisionSaysWhereItLooked) {
  test::TempDir t;
  make_cached_model(t / "hub", "a1b2c3d4");
  ScopedEnv a("HF_HUB_CACHE", (t / "hub").c_str());
  const std::string missing =
      test::error_of([] { resolve_model_dir("meta-llama/Llama-3.2-1B"); }, ErrorKind::Usage);
  EXPECT_CONTAINS(missing,
                  "'meta-llama/Llama-3.2-1B' is neither a directory nor a model in "
                  "the Hugging Face cache (searched " +
                      t / "hub/models--meta-llama--Llama-3.2-1B");
  EXPECT_CONTAINS(missing, "huggingface-cli download meta-llama/Llama-3.2-1B");
  const std::string rev =
      test::error_of([] { resolve_model_dir("HuggingFaceTB/SmolLM2-360M@v2"); }, ErrorKind::Usage);
  EXPECT_CONTAINS(rev, "revision 'v2' is not in the cache");
  EXPECT_CONTAINS(rev, "snapshots there: 0000older, a1b2c3d4");
}

}  // namespace
}  // namespace ptune
