// Atomic writes by temporary sibling + fsync + rename (POSIX rename is atomic within a
// file system). Temporaries are named "<path>.tmp-<pid>-<n>" so a leftover one is
// recognisable and never mistaken for the real file.
#include "ptune/io/fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "ptune/core/error.h"

namespace fs = std::filesystem;

namespace ptune {
namespace {

std::string errno_text() {
  return std::strerror(errno);
}

// "a/b/" -> "a/b": the trailing slash would make the sibling "a/b/.tmp-..." a child.
std::string strip_trailing_slashes(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

std::string parent_of(const std::string& path) {
  auto parent = fs::path(path).parent_path();
  return parent.empty() ? "." : parent.string();
}

// Creates a fresh "<base>.tmp-<pid>-<n>" with `create` (returns false on EEXIST).
template <typename Create>
std::string fresh_sibling(const std::string& base, Create create) {
  for (int n = 0; n < 10000; ++n) {
    std::string name = fmt::format("{}.tmp-{}-{}", base, getpid(), n);
    if (create(name)) return name;
    if (errno != EEXIST)
      runtime_error("{}: cannot create temporary {}: {}", base, name, errno_text());
  }
  runtime_error("{}: cannot find a free temporary name beside it", base);
}

void make_parent_dirs(const std::string& path) {
  std::error_code ec;
  fs::create_directories(parent_of(path), ec);
  if (ec)
    runtime_error("{}: cannot create parent directory {}: {}", path, parent_of(path), ec.message());
}

}  // namespace

void fsync_path(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) runtime_error("{}: cannot open for fsync: {}", path, errno_text());
  struct stat st {};
  bool is_dir = ::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  // Some file systems refuse fsync on directories (EINVAL); the data files are what matter.
  if (rc != 0 && !(is_dir && (err == EINVAL || err == EROFS)))
    runtime_error("{}: fsync failed: {}", path, std::strerror(err));
}

void write_file_atomic_stream(const std::string& path,
                              const std::function<void(std::ostream& out)>& write) {
  if (path == "-") {
    write(std::cout);
    std::cout.flush();
    if (!std::cout) runtime_error("-: cannot write to stdout");
    return;
  }
  make_parent_dirs(path);
  std::string tmp = fresh_sibling(path, [](const std::string& name) {
    int fd = ::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) return false;
    ::close(fd);
    return true;
  });
  try {
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      if (!out) runtime_error("{}: cannot open {} for writing", path, tmp);
      write(out);
      out.close();
      if (!out) runtime_error("{}: write to {} failed (disk full?)", path, tmp);
    }
    fsync_path(tmp);
    if (::rename(tmp.c_str(), path.c_str()) != 0)
      runtime_error("{}: cannot rename {} onto it: {}", path, tmp, errno_text());
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  fsync_path(parent_of(path));
}

void write_file_atomic(const std::string& path, const std::string& content) {
  write_file_atomic_stream(path,
                           [&](std::ostream& out) { out.write(content.data(), content.size()); });
}

std::string read_file(const std::string& path) {
  std::stringstream ss;
  if (path == "-") {
    ss << std::cin.rdbuf();
    return ss.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) runtime_error("{}: cannot read: {}", path, errno_text());
  ss << in.rdbuf();
  if (in.bad()) runtime_error("{}: read failed", path);
  return ss.str();
}

void write_dir_atomic(const std::string& dir_arg,
                      const std::function<void(const std::string& tmp)>& fill) {
  const std::string dir = strip_trailing_slashes(dir_arg);
  if (fs::exists(dir) && !fs::is_directory(dir))
    runtime_error("{}: exists and is not a directory; refusing to replace it", dir);
  make_parent_dirs(dir);
  std::string tmp =
      fresh_sibling(dir, [](const std::string& name) { return ::mkdir(name.c_str(), 0777) == 0; });
  std::error_code ec;
  try {
    fill(tmp);
    for (const auto& e : fs::recursive_directory_iterator(tmp))
      if (e.is_regular_file() || e.is_directory()) fsync_path(e.path().string());
    fsync_path(tmp);
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }

  // Move the old directory aside only once the new one is complete.
  std::string old;
  if (fs::exists(dir)) {
    old = fmt::format("{}.old-{}", dir, getpid());
    fs::remove_all(old, ec);
    if (::rename(dir.c_str(), old.c_str()) != 0) {
      int err = errno;
      fs::remove_all(tmp, ec);
      runtime_error("{}: cannot move the existing directory aside to {}: {}", dir, old,
                    std::strerror(err));
    }
  }
  if (::rename(tmp.c_str(), dir.c_str()) != 0) {
    int err = errno;
    if (!old.empty()) ::rename(old.c_str(), dir.c_str());  // put the old one back
    fs::remove_all(tmp, ec);
    runtime_error("{}: cannot rename {} onto it: {}", dir, tmp, std::strerror(err));
  }
  fsync_path(parent_of(dir));
  if (!old.empty()) fs::remove_all(old, ec);
}

}  // namespace ptune
