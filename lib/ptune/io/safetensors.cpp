// safetensors (huggingface/safetensors): u64-LE header length N, N bytes of JSON header
// {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}, then the raw
// little-endian C-order bytes. The reader validates as the reference implementation does
// and maps the file copy-on-write; the writer orders and pads the header as it does.
#include "ptune/io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "ptune/core/error.h"
#include "ptune/core/json.h"
#include "ptune/io/fs.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors bytes are little-endian");

namespace ptune {
namespace {

constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the reference reader's cap

// In the order of the reference implementation's Dtype enum, which is sorted by alignment:
// the writer puts higher entries first.
struct DtypeName {
  const char* name;
  torch::ScalarType type;
};
constexpr DtypeName kDtypes[] = {
    {"BOOL", torch::kBool}, {"U8", torch::kByte},   {"I8", torch::kChar},
    {"I16", torch::kShort}, {"F16", torch::kHalf},  {"BF16", torch::kBFloat16},
    {"I32", torch::kInt},   {"F32", torch::kFloat}, {"F64", torch::kDouble},
    {"I64", torch::kLong},
};

const DtypeName* find_dtype(const std::string& s) {
  for (const auto& d : kDtypes)
    if (s == d.name) return &d;
  return nullptr;
}

int dtype_rank(torch::ScalarType t) {
  for (size_t i = 0; i < std::size(kDtypes); ++i)
    if (kDtypes[i].type == t) return static_cast<int>(i);
  return -1;
}

std::string supported_list() {
  std::string s;
  for (const auto& d : kDtypes) s += (s.empty() ? "" : ", ") + std::string(d.name);
  return s;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  return c10::str(c10::IntArrayRef(shape));
}

struct Header {
  std::vector<TensorInfo> infos;  // sorted by data offset
  std::map<std::string, std::string> metadata;
  size_t data_offset = 0;  // 8 + N
};

// Parses the header JSON, remembering the first duplicate key (nlohmann keeps only one).
nlohmann::json parse_header_json(const std::string& path, const char* begin, const char* end) {
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  bool duplicate_is_tensor = false;
  auto on_event = [&](int, nlohmann::json::parse_event_t ev, nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    if (ev == E::object_start) open_objects.emplace_back();
    if (ev == E::object_end && !open_objects.empty()) open_objects.pop_back();
    if (ev == E::key && !open_objects.empty() && duplicate.empty() &&
        !open_objects.back().insert(parsed.get<std::string>()).second) {
      duplicate = parsed.get<std::string>();
      duplicate_is_tensor = open_objects.size() == 1;
    }
    return true;
  };
  nlohmann::json j;
  try {
    j = parse_json(std::string_view(begin, end - begin), on_event);
  } catch (const nlohmann::json::exception& e) {
    runtime_error("{}: header is not valid JSON: {}", path, e.what());
  }
  if (!duplicate.empty())
    runtime_error("{}: header has duplicate {} '{}'", path, duplicate_is_tensor ? "tensor" : "key",
                  duplicate);
  return j;
}

TensorInfo parse_entry(const std::string& path, const std::string& name, const nlohmann::json& v) {
  if (!v.is_object())
    runtime_error("{}: tensor '{}' must be an object with dtype, shape and data_offsets, got {}",
                  path, name, v.dump());
  for (const char* field : {"dtype", "shape", "data_offsets"})
    if (!v.contains(field)) runtime_error("{}: tensor '{}' has no '{}'", path, name, field);
  TensorInfo info;
  info.name = name;

  const auto& dt = v["dtype"];
  const DtypeName* d = dt.is_string() ? find_dtype(dt.get<std::string>()) : nullptr;
  if (!d)
    runtime_error("{}: tensor '{}' has unsupported dtype {}; ptune reads {}", path, name, dt.dump(),
                  supported_list());
  info.dtype = d->type;

  const auto& shape = v["shape"];
  bool shape_ok = shape.is_array();
  for (const auto& s : shape)
    shape_ok = shape_ok && s.is_number_unsigned() && s.get<uint64_t>() <= uint64_t(INT64_MAX);
  if (!shape_ok)
    runtime_error("{}: tensor '{}' shape must be a list of non-negative integers, got {}", path,
                  name, shape.dump());
  for (const auto& s : shape) info.shape.push_back(s.get<int64_t>());

  const auto& off = v["data_offsets"];
  if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() ||
      !off[1].is_number_unsigned() || off[0].get<uint64_t>() > off[1].get<uint64_t>())
    runtime_error("{}: tensor '{}' data_offsets must be [begin, end] with begin <= end, got {}",
                  path, name, off.dump());
  info.begin = off[0].get<uint64_t>();
  info.end = off[1].get<uint64_t>();

  uint64_t nbytes = c10::elementSize(info.dtype);
  bool overflow = false;
  for (int64_t s : info.shape) overflow |= __builtin_mul_overflow(nbytes, uint64_t(s), &nbytes);
  if (overflow || info.end - info.begin != nbytes)
    runtime_error("{}: tensor '{}' data_offsets [{}, {}] hold {} bytes; dtype {} shape {} needs {}",
                  path, name, info.begin, info.end, info.end - info.begin, d->name,
                  shape_str(info.shape),
                  overflow ? std::string("more than 2^64") : std::to_string(nbytes));
  return info;
}

Header parse_header(const std::string& path, const uint8_t* bytes, uint64_t size) {
  if (size < 8)
    runtime_error(
        "{}: file is {} bytes, too short for the 8-byte header length (truncated or not a "
        "safetensors file)",
        path, size);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(bytes[i]) << (8 * i);
  if (n > kMaxHeaderBytes)
    runtime_error(
        "{}: header length {} exceeds the 100 MB limit (corrupt or not a safetensors file)", path,
        n);
  if (n > size - 8)
    runtime_error("{}: header length {} runs past the end of the file ({} bytes; truncated?)", path,
                  n, size);

  const char* text = reinterpret_cast<const char*>(bytes + 8);
  nlohmann::json j = parse_header_json(path, text, text + n);
  if (!j.is_object())
    runtime_error("{}: header must be a JSON object, got {}", path, j.type_name());

  Header h;
  h.data_offset = 8 + n;
  for (const auto& [key, v] : j.items()) {
    if (key != "__metadata__") {
      h.infos.push_back(parse_entry(path, key, v));
      continue;
    }
    if (!v.is_object())
      runtime_error("{}: __metadata__ must be an object, got {}", path, v.type_name());
    for (const auto& [mk, mv] : v.items()) {
      if (!mv.is_string())
        runtime_error("{}: __metadata__ value of '{}' must be a string, got {}", path, mk,
                      mv.dump());
      h.metadata[mk] = mv.get<std::string>();
    }
  }

  std::sort(h.infos.begin(), h.infos.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  uint64_t expected = 0;
  for (const auto& info : h.infos) {
    if (info.begin != expected)
      runtime_error(
          "{}: tensor '{}' data_offsets [{}, {}] start at {}, expected {} (offsets must be "
          "contiguous from 0 with no gaps or overlaps)",
          path, info.name, info.begin, info.end, info.begin, expected);
    expected = info.end;
  }
  uint64_t buffer = size - h.data_offset;
  if (expected > buffer)
    runtime_error("{}: data buffer is {} bytes but the tensors need {} (truncated?)", path, buffer,
                  expected);
  if (expected < buffer)
    runtime_error("{}: data buffer is {} bytes but the tensors use only {} (trailing bytes)", path,
                  buffer, expected);
  return h;
}

}  // namespace

torch::ScalarType safetensors_dtype(const std::string& s) {
  const DtypeName* d = find_dtype(s);
  if (!d) runtime_error("unsupported safetensors dtype '{}'; ptune reads {}", s, supported_list());
  return d->type;
}

std::string safetensors_dtype_name(torch::ScalarType t) {
  int r = dtype_rank(t);
  if (r < 0)
    runtime_error("dtype {} cannot be stored in safetensors by ptune; supported: {}",
                  c10::toString(t), supported_list());
  return kDtypes[r].name;
}

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) runtime_error("{}: cannot open: {}", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    runtime_error("{}: not a regular file", path);
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < 8) {  // checked again by parse_header; mmap of an empty file would fail first
    ::close(fd);
    parse_header(path, nullptr, size);
  }
  // Private + writable: views are copy-on-write, so a caller writing into one never
  // touches the file (and never faults on a read-only page).
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  int err = errno;
  ::close(fd);
  if (p == MAP_FAILED) runtime_error("{}: cannot mmap: {}", path, std::strerror(err));

  std::shared_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = path;
  f->map_ = std::shared_ptr<void>(p, [size](void* q) { ::munmap(q, size); });
  f->map_size_ = size;
  Header h = parse_header(path, static_cast<const uint8_t*>(p), size);
  f->data_offset_ = h.data_offset;
  f->infos_ = std::move(h.infos);
  f->metadata_ = std::move(h.metadata);
  for (size_t i = 0; i < f->infos_.size(); ++i) f->index_[f->infos_[i].name] = i;
  return f;
}

SafetensorsFile::~SafetensorsFile() = default;

bool SafetensorsFile::contains(const std::string& name) const {
  return index_.count(name) > 0;
}

const TensorInfo& SafetensorsFile::info(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) runtime_error("{}: no tensor '{}'", path_, name);
  return infos_[it->second];
}

torch::Tensor SafetensorsFile::tensor(const std::string& name) const {
  const TensorInfo& i = info(name);
  uint8_t* ptr = static_cast<uint8_t*>(map_.get()) + data_offset_ + i.begin;
  auto options = torch::TensorOptions().dtype(i.dtype).device(torch::kCPU);
  if (reinterpret_cast<uintptr_t>(ptr) % c10::elementSize(i.dtype) != 0) {
    torch::Tensor copy = torch::empty(i.shape, options);
    if (i.end > i.begin) std::memcpy(copy.data_ptr(), ptr, i.end - i.begin);  // empty: no data
    return copy;
  }
  std::shared_ptr<void> keep = map_;
  return torch::from_blob(
      ptr, i.shape, [keep](void*) {}, options);
}

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::set<std::string> seen;
  for (const auto& [name, t] : tensors) {
    if (!t.defined()) runtime_error("{}: tensor '{}' is undefined", path, name);
    if (name == "__metadata__") runtime_error("{}: '__metadata__' cannot be a tensor name", path);
    if (!seen.insert(name).second) runtime_error("{}: duplicate tensor name '{}'", path, name);
    safetensors_dtype_name(t.scalar_type());  // throws for dtypes safetensors cannot hold here
  }
  // Order as the reference writer: descending dtype alignment, then name.
  std::vector<size_t> order(tensors.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    int ra = dtype_rank(tensors[a].second.scalar_type()),
        rb = dtype_rank(tensors[b].second.scalar_type());
    return ra != rb ? ra > rb : tensors[a].first < tensors[b].first;
  });

  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (size_t i : order) {
    const auto& [name, t] = tensors[i];
    uint64_t nbytes = uint64_t(t.numel()) * t.element_size();
    header[name] = {{"dtype", safetensors_dtype_name(t.scalar_type())},
                    {"shape", t.sizes().vec()},
                    {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {  // a name or metadata value that is not UTF-8
    runtime_error("{}: cannot write the header: {}", path, e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');

  write_file_atomic_stream(path, [&](std::ostream& out) {
    char len[8];
    for (int i = 0; i < 8; ++i)
      len[i] = static_cast<char>((uint64_t(text.size()) >> (8 * i)) & 0xff);
    out.write(len, 8);
    out.write(text.data(), text.size());
    for (size_t i : order) {
      // One tensor at a time: only this one is made CPU-contiguous (a copy if it was not).
      torch::Tensor c = tensors[i].second.detach().to(torch::kCPU).contiguous();
      out.write(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
    }
  });
}

}  // namespace ptune
