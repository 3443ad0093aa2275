// Atomic file-system helpers: every file ptune writes goes to a temporary name, is fsynced,
// then renamed, so a crash never leaves a partial file or checkpoint that looks whole.
#pragma once

#include <functional>
#include <ostream>
#include <string>

namespace ptune {

// Writes `content` to `path` atomically ("-" writes stdout).
void write_file_atomic(const std::string& path, const std::string& content);

// Streams a file atomically: `write(out)` fills a temporary sibling of `path`, which is
// fsynced and renamed onto `path`. If `write` throws, the temporary is removed and `path`
// is untouched. "-" streams to stdout.
void write_file_atomic_stream(const std::string& path,
                              const std::function<void(std::ostream& out)>& write);

// Reads a whole file; "-" reads stdin. Runtime error naming the path on failure.
std::string read_file(const std::string& path);

// fsync a file or directory by path (no-op errors ignored for directories on odd FS).
void fsync_path(const std::string& path);

// Builds a directory atomically: `fill(tmp)` writes into a fresh temporary sibling of
// `dir`; on success the temporary is fsynced and renamed onto `dir`. An existing `dir` is
// replaced only after the new one is complete (old one moved aside, then removed). If `fill`
// throws, the temporary is removed and `dir` is untouched.
void write_dir_atomic(const std::string& dir,
                      const std::function<void(const std::string& tmp)>& fill);

}  // namespace ptune
