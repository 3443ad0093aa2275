// Shared test helpers.
#include "test_util.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace fs = std::filesystem;

namespace ptune::test {

TempDir::TempDir() {
  std::random_device rd;
  auto base = fs::temp_directory_path();
  for (int i = 0; i < 100; ++i) {
    auto p = base / ("ptune-test-" + std::to_string(rd()));
    if (fs::create_directory(p)) {
      path_ = p.string();
      return;
    }
  }
  throw std::runtime_error("cannot create a temporary directory");
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot write " + path);
  f << text;
}

bool exists(const std::string& path) {
  return fs::exists(path);
}

RunResult run_shell(const std::string& cmd, const std::string& stdin_text) {
  TempDir tmp;
  write_text(tmp / "stdin", stdin_text);
  std::string full =
      "(" + cmd + ") <" + tmp / "stdin" + " >" + tmp / "stdout" + " 2>" + tmp / "stderr";
  int status = std::system(full.c_str());
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_text(tmp / "stdout");
  r.err = read_text(tmp / "stderr");
  return r;
}

RunResult run_ptune(const std::string& args, const std::string& stdin_text) {
  return run_shell(std::string(PTUNE_BINARY) + " " + args, stdin_text);
}

}  // namespace ptune::test
