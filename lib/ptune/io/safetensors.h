// safetensors reader and writer (https://github.com/huggingface/safetensors: an 8-byte
// little-endian header length, a JSON header, the tensor bytes). The reader memory-maps the file
// and hands out tensors that view the mapping (no copy); the mapping lives as long as any view.
#pragma once

#include <torch/types.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ptune {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

struct TensorInfo {
  std::string name;
  torch::ScalarType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte offsets into the data buffer
};

class SafetensorsFile {
 public:
  // Opens and validates: header size cap (100 MB), JSON, dtypes, offsets contiguous from 0,
  // end - begin == numel * itemsize, buffer exactly filled, no duplicates. Any violation
  // throws a Runtime error naming the file and the problem.
  static std::shared_ptr<SafetensorsFile> open(const std::string& path);

  const std::string& path() const { return path_; }
  const std::vector<TensorInfo>& tensors() const { return infos_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool contains(const std::string& name) const;
  const TensorInfo& info(const std::string& name) const;  // throws if missing
  // A view of the mapped bytes (CPU, zero-copy). The mapping is private copy-on-write, so
  // writing into a view never changes the file; each view keeps the mapping alive. A
  // tensor whose bytes are misaligned for its dtype (foreign writers need not pad) is copied.
  torch::Tensor tensor(const std::string& name) const;

  ~SafetensorsFile();

 private:
  SafetensorsFile() = default;
  std::string path_;
  std::shared_ptr<void> map_;  // the whole file, MAP_PRIVATE; munmap when the last view dies
  size_t map_size_ = 0;
  size_t data_offset_ = 0;  // 8 + header length
  std::vector<TensorInfo> infos_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// Writes `tensors` (any device/dtype among F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL)
// to `path` atomically: temporary file in the same folder, fsync, rename. Tensors are
// streamed one at a time (a non-contiguous or non-CPU tensor is copied only while written).
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

// "F32" <-> torch::kFloat32 etc. Throws for dtypes ptune does not handle.
torch::ScalarType safetensors_dtype(const std::string& s);
std::string safetensors_dtype_name(torch::ScalarType t);

}  // namespace ptune
