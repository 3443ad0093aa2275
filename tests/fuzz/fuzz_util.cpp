#include "fuzz_util.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "ptune/core/error.h"

namespace ptune::fuzz {

const std::string& scratch_dir() {
  static const std::string dir = [] {
    spdlog::set_level(spdlog::level::off);
    std::string base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
    if (const char* t = std::getenv("TMPDIR"); t && *t) base = t;
    std::string d = base + "/ptune-fuzz-" + std::to_string(getpid());
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::pair<std::string, std::string> split(const uint8_t* data, size_t size,
                                          const std::string& sep) {
  const std::string s(reinterpret_cast<const char*>(data), size);
  const size_t at = s.find(sep);
  if (at == std::string::npos) return {s, ""};
  return {s.substr(0, at), s.substr(at + sep.size())};
}

}  // namespace ptune::fuzz
