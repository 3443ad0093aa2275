// Shared test helpers: temporary directories, running the ptune binary, reading files.
#pragma once

#include <string>
#include <vector>

#include "test_paths.h"

namespace ptune::test {

// A fresh directory under $TMPDIR, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct RunResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs `cmd` through /bin/sh with optional stdin text; captures stdout and stderr.
RunResult run_shell(const std::string& cmd, const std::string& stdin_text = "");
// Runs the ptune binary with `args` (already shell-quoted where needed).
RunResult run_ptune(const std::string& args, const std::string& stdin_text = "");

std::string read_text(const std::string& path);
void write_text(const std::string& path, const std::string& text);
bool exists(const std::string& path);

}  // namespace ptune::test
