// safetensors reader/writer: bit-exact round trips, the reference writer's header layout,
// interop with a file written by Python, and rejection (with messages) of malformed files.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstring>

#include "error_helpers.h"
#include "ptune/io/safetensors.h"
#include "test_util.h"

namespace ptune {
namespace {

using test::error_of;

// 8-byte little-endian length + header + data, as a safetensors file lays them out.
std::string raw_file(const std::string& header, const std::string& data, uint64_t claimed_len) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((claimed_len >> (8 * i)) & 0xff);
  return out + header + data;
}
std::string raw_file(const std::string& header, const std::string& data) {
  return raw_file(header, data, header.size());
}

bool same_bytes(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  auto ca = a.contiguous(), cb = b.contiguous();
  if (ca.numel() == 0) return true;  // no data (and no pointer to compare from)
  return std::memcmp(ca.data_ptr(), cb.data_ptr(), ca.numel() * ca.element_size()) == 0;
}

NamedTensors every_dtype() {
  torch::manual_seed(0);
  auto f = torch::randn({3, 5});
  return {
      {"f32", f},
      {"f16", f.to(torch::kHalf)},
      {"bf16", f.to(torch::kBFloat16)},
      {"f64", torch::randn({4}, torch::kDouble)},
      {"i64", torch::tensor({int64_t(-1), int64_t(1) << 40, INT64_MAX})},
      {"i32", torch::randint(-100000, 100000, {2, 2}, torch::kInt)},
      {"i16", torch::randint(-30000, 30000, {7}, torch::kShort)},
      {"i8", torch::randint(-128, 127, {3}, torch::kChar)},
      {"u8", torch::randint(0, 255, {2, 1, 3}, torch::kByte)},
      {"bool", torch::rand({5}) > 0.5},
      {"scalar", torch::tensor(3.25)},                    // 0-rank
      {"empty", torch::zeros({0, 4}, torch::kBFloat16)},  // 0 elements
      {"strided", f.t()},                                 // non-contiguous input
  };
}

TEST(Safetensors, RoundTripsEveryDtypeBitExactly) {
  test::TempDir dir;
  auto tensors = every_dtype();
  save_safetensors(dir / "m.safetensors", tensors);
  auto file = SafetensorsFile::open(dir / "m.safetensors");
  EXPECT_EQ(file->tensors().size(), tensors.size());
  EXPECT_EQ(file->metadata(), (std::map<std::string, std::string>{{"format", "pt"}}));
  for (const auto& [name, t] : tensors) {
    ASSERT_TRUE(file->contains(name)) << name;
    EXPECT_TRUE(same_bytes(file->tensor(name), t)) << name;
    EXPECT_EQ(file->info(name).dtype, t.scalar_type()) << name;
  }
  EXPECT_EQ(file->tensor("scalar").dim(), 0);
  EXPECT_CONTAINS(error_of([&] { file->tensor("nope"); }), "m.safetensors: no tensor 'nope'");
}

TEST(Safetensors, HeaderIsSortedByAlignmentThenNameAndPaddedToEight) {
  test::TempDir dir;
  save_safetensors(dir / "h.safetensors", {{"b", torch::ones({2})},
                                           {"a", torch::ones({1})},
                                           {"c", torch::ones({1}, torch::kLong)},
                                           {"d", torch::ones({3}, torch::kBFloat16)},
                                           {"e", torch::ones({1}, torch::kBool)}});
  std::string bytes = test::read_text(dir / "h.safetensors");
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(bytes.size(), 8 + n + 27);
  std::string header = bytes.substr(8, n);
  std::string json = header.substr(0, header.find_last_not_of(' ') + 1);
  EXPECT_LT(header.size() - json.size(), 8u);
  EXPECT_EQ(json, R"({"__metadata__":{"format":"pt"},)"
                  R"("c":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},)"
                  R"("a":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},)"
                  R"("b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]},)"
                  R"("d":{"dtype":"BF16","shape":[3],"data_offsets":[20,26]},)"
                  R"("e":{"dtype":"BOOL","shape":[1],"data_offsets":[26,27]}})");
}

TEST(Safetensors, ViewsAreZeroCopyCopyOnWriteAndOutliveTheFileObject) {
  test::TempDir dir;
  save_safetensors(dir / "v.safetensors", {{"x", torch::arange(4, torch::kFloat)}});
  torch::Tensor view;
  {
    auto file = SafetensorsFile::open(dir / "v.safetensors");
    view = file->tensor("x");
    EXPECT_EQ(file->tensor("x").data_ptr(), view.data_ptr());  // same mapped bytes
  }
  view.add_(100);  // private mapping: the file does not change
  EXPECT_TRUE(torch::equal(view, torch::arange(4, torch::kFloat) + 100));
  auto again = SafetensorsFile::open(dir / "v.safetensors");
  EXPECT_TRUE(torch::equal(again->tensor("x"), torch::arange(4, torch::kFloat)));
}

// One Python process (torch import costs seconds): it checks a file we wrote with a hand
// parser, then writes one by hand (struct + json, no padding, so the data may be misaligned)
// for us to read. The python `safetensors` package is not installed.
TEST(Safetensors, InteroperatesWithFilesReadAndWrittenByPython) {
  test::TempDir dir;
  save_safetensors(dir / "cpp.safetensors", {{"w", torch::arange(6, torch::kFloat).reshape({2, 3})},
                                             {"ids", torch::tensor({int64_t(7), int64_t(-8)})}});
  const std::string script = R"PY(
import json, struct, sys, torch
raw = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", raw[:8])
header, data = json.loads(raw[8:8 + n]), raw[8 + n:]
def get(k, dt):
    b, e = header[k]["data_offsets"]
    return torch.frombuffer(bytearray(data[b:e]), dtype=dt).reshape(header[k]["shape"])
assert torch.equal(get("w", torch.float32), torch.arange(6.0).reshape(2, 3))
assert torch.equal(get("ids", torch.int64), torch.tensor([7, -8]))
assert header["__metadata__"] == {"format": "pt"}

ts = {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3) * 0.5,
      "h": torch.tensor([1.5, -2.25, 3.0]).bfloat16(),
      "ids": torch.tensor([-1, 2**40], dtype=torch.int64)}
names = {torch.float32: "F32", torch.bfloat16: "BF16", torch.int64: "I64"}
header, data = {"__metadata__": {"source": "python"}}, b""
for k, t in ts.items():
    b = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes()
    header[k] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [len(data), len(data) + len(b)]}
    data += b
h = json.dumps(header).encode()
open(sys.argv[2], "wb").write(struct.pack("<Q", len(h)) + h + data)
)PY";
  test::write_text(dir / "interop.py", script);
  auto r = test::run_shell(std::string(PTUNE_PYTHON) + " " + (dir / "interop.py") + " " +
                           (dir / "cpp.safetensors") + " " + (dir / "py.safetensors"));
  ASSERT_EQ(r.exit_code, 0) << r.err;

  auto file = SafetensorsFile::open(dir / "py.safetensors");
  EXPECT_EQ(file->metadata().at("source"), "python");
  EXPECT_TRUE(
      torch::equal(file->tensor("w"), torch::arange(6, torch::kFloat).reshape({2, 3}) * 0.5));
  EXPECT_TRUE(
      torch::equal(file->tensor("h"), torch::tensor({1.5, -2.25, 3.0}).to(torch::kBFloat16)));
  EXPECT_TRUE(torch::equal(file->tensor("ids"), torch::tensor({int64_t(-1), int64_t(1) << 40})));
}

TEST(Safetensors, MisalignedDataIsCopiedNotViewed) {
  test::TempDir dir;
  float values[2] = {1.5f, -4.0f};
  std::string data(reinterpret_cast<const char*>(values), sizeof values);
  // A 61-byte header puts the data at offset 69, not a multiple of 4.
  std::string header = R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  header.append(61 - header.size(), ' ');
  test::write_text(dir / "m.safetensors", raw_file(header, data));
  auto file = SafetensorsFile::open(dir / "m.safetensors");
  torch::Tensor x = file->tensor("x");
  EXPECT_EQ(reinterpret_cast<uintptr_t>(x.data_ptr()) % alignof(float), 0u);
  EXPECT_TRUE(torch::equal(x, torch::tensor({1.5f, -4.0f})));
}

// Found by fuzz_safetensors (tests/fuzz/regressions/safetensors): an empty tensor at an offset
// its dtype does not align with was copied with memcpy from a null pointer (UB).
TEST(Safetensors, EmptyTensorAtAMisalignedOffsetIsEmpty) {
  test::TempDir dir;
  std::string header =
      R"({"b":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"e":{"dtype":"F32","shape":[0,3],"data_offsets":[2,2]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  test::write_text(dir / "e.safetensors", raw_file(header, "ab"));
  auto file = SafetensorsFile::open(dir / "e.safetensors");
  torch::Tensor e = file->tensor("e");
  EXPECT_EQ(e.sizes(), (std::vector<int64_t>{0, 3}));
  EXPECT_EQ(e.scalar_type(), torch::kFloat32);
}

// Found by fuzz_adapter_config: a tensor name that is not UTF-8 escaped save_safetensors as
// nlohmann::type_error; it is an error naming the file, and nothing is written.
TEST(Safetensors, ANameThatIsNotUtf8IsAnErrorNamingTheFile) {
  test::TempDir dir;
  const std::string path = dir / "bad-name.safetensors";
  const std::string msg = error_of([&] {
    save_safetensors(path, {{"layer.\xF9.weight", torch::ones({2})}});
  });
  EXPECT_EQ(msg.rfind(path + ": cannot write the header: ", 0), 0u) << msg;
  EXPECT_FALSE(test::exists(path));
}

// Writes `bytes` as bad.safetensors and returns the error opening it raises.
std::string open_error(const test::TempDir& dir, const std::string& bytes) {
  test::write_text(dir / "bad.safetensors", bytes);
  std::string msg = error_of([&] { SafetensorsFile::open(dir / "bad.safetensors"); });
  EXPECT_EQ(msg.rfind(dir / "bad.safetensors: ", 0), 0u)
      << "message must start with the path: " << msg;
  return msg;
}

const std::string kX = R"("x":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]})";

TEST(Safetensors, RejectsMalformedFilesWithMessages) {
  test::TempDir dir;
  const std::string data16(16, '\1');
  EXPECT_CONTAINS(open_error(dir, "abcde"),
                  "file is 5 bytes, too short for the 8-byte header length");
  EXPECT_CONTAINS(open_error(dir, raw_file("{}", "", 100)),
                  "header length 100 runs past the end of the file (10 bytes; truncated?)");
  EXPECT_CONTAINS(open_error(dir, raw_file("{" + kX + "}", std::string(8, '\0'))),
                  "data buffer is 8 bytes but the tensors need 16 (truncated?)");
  EXPECT_CONTAINS(open_error(dir, raw_file("{}", "", 200'000'000)),
                  "header length 200000000 exceeds the 100 MB limit");
  EXPECT_CONTAINS(open_error(dir, raw_file("{\"x\": ", "")), "header is not valid JSON");
  EXPECT_CONTAINS(open_error(dir, raw_file("{\"x\": " + std::string(100'000, '['), "")),
                  "header is not valid JSON: arrays and objects nested deeper than 128 levels");
  EXPECT_CONTAINS(open_error(dir, raw_file("[1, 2]", "")),
                  "header must be a JSON object, got array");
  EXPECT_CONTAINS(
      open_error(dir,
                 raw_file(R"({"x":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})", "ab")),
      "tensor 'x' has unsupported dtype \"F8_E4M3\"; ptune reads BOOL, U8, I8, I16, F16, BF16");
  EXPECT_CONTAINS(
      open_error(dir, raw_file(R"({"x":{"dtype":"F32","data_offsets":[0,4]}})", "abcd")),
      "tensor 'x' has no 'shape'");
  EXPECT_CONTAINS(
      open_error(dir,
                 raw_file(R"({"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", "abcd")),
      "tensor 'x' shape must be a list of non-negative integers, got [-1]");
  EXPECT_CONTAINS(
      open_error(dir,
                 raw_file("{" + kX + R"(,"y":{"dtype":"F32","shape":[1],"data_offsets":[20,24]}})",
                          std::string(24, '\0'))),
      "tensor 'y' data_offsets [20, 24] start at 20, expected 16 (offsets must be contiguous");
  EXPECT_CONTAINS(
      open_error(dir, raw_file(R"({"x":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}})",
                               std::string(12, '\0'))),
      "tensor 'x' data_offsets [0, 12] hold 12 bytes; dtype F32 shape [2, 2] needs 16");
  EXPECT_CONTAINS(open_error(dir, raw_file("{" + kX + "}", data16 + "tail")),
                  "data buffer is 20 bytes but the tensors use only 16 (trailing bytes)");
  EXPECT_CONTAINS(open_error(dir, raw_file("{" + kX + "," + kX + "}", data16)),
                  "header has duplicate tensor 'x'");
  EXPECT_CONTAINS(open_error(dir, raw_file(R"({"__metadata__":{"a":1}})", "")),
                  "__metadata__ value of 'a' must be a string, got 1");
  EXPECT_CONTAINS(error_of([&] { SafetensorsFile::open(dir / "missing.safetensors"); }),
                  "missing.safetensors: cannot open: No such file or directory");
}

TEST(Safetensors, EveryTruncationOrByteFlipFailsCleanly) {
  test::TempDir dir;
  save_safetensors(dir / "ok.safetensors",
                   {{"a", torch::ones({3})}, {"b", torch::ones({2}, torch::kLong)}});
  const std::string good = test::read_text(dir / "ok.safetensors");
  for (size_t len = 0; len < good.size(); ++len) {
    test::write_text(dir / "t.safetensors", good.substr(0, len));
    EXPECT_THROW(SafetensorsFile::open(dir / "t.safetensors"), Error) << "length " << len;
  }
  uint64_t n = 0;
  std::memcpy(&n, good.data(), 8);
  for (size_t i = 0; i < 8 + n; ++i) {  // a flipped header byte must be caught or harmless
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x5a);
    test::write_text(dir / "f.safetensors", bad);
    try {
      auto f = SafetensorsFile::open(dir / "f.safetensors");
      for (const auto& info : f->tensors()) f->tensor(info.name).sum();
    } catch (const Error&) {
    }
  }
}

TEST(Safetensors, WriterRejectsWhatItCannotStore) {
  test::TempDir dir;
  auto path = dir / "w.safetensors";
  EXPECT_CONTAINS(error_of([&] {
                    save_safetensors(path, {{"a", torch::ones({1})}, {"a", torch::ones({1})}});
                  }),
                  "w.safetensors: duplicate tensor name 'a'");
  EXPECT_CONTAINS(error_of([&] {
                    save_safetensors(path, {{"c", torch::ones({1}, torch::kComplexFloat)}});
                  }),
                  "cannot be stored in safetensors by ptune");
  EXPECT_FALSE(test::exists(path));
}

}  // namespace
}  // namespace ptune
