// Internal ABI between tokenizer.cpp and libptune_sentencepiece.so, the module that holds
// SentencePiece. Debian's libsentencepiece bundles protobuf-lite 3.14 with exported symbols,
// and LibTorch loads libprotobuf 3.21: in one symbol scope either one crashes at start-up or
// the version check aborts. So SentencePiece lives in a module that tokenizer.cpp dlopen()s
// with RTLD_LOCAL | RTLD_DEEPBIND (its own protobuf first). Not for use outside data/.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

namespace ptune::spm {

constexpr int kAbiVersion = 1;

// One loaded SentencePiece model. Methods return "" on success, else SentencePiece's message.
class Model {
 public:
  virtual ~Model() = default;
  virtual std::string encode(const std::string& text, std::vector<int>* ids) const = 0;
  virtual std::string decode(const std::vector<int>& ids, std::string* text) const = 0;
  virtual int piece_size() const = 0;
  virtual int bos_id() const = 0;
  virtual int eos_id() const = 0;
  virtual int pad_id() const = 0;  // -1 when the model has no pad piece
};

// The module's extern "C" entry points (looked up with dlsym by these names).
using AbiVersionFn = int (*)();
// Loads a .model; null with `error` set on failure.
using LoadFn = Model* (*)(const char* path, std::string* error);
// SentencePieceTrainer::Train with flag-name -> value arguments; false with `error` set.
using TrainFn = bool (*)(const std::unordered_map<std::string, std::string>* args,
                         std::string* error);
constexpr const char* kAbiVersionSymbol = "ptune_spm_abi_version";
constexpr const char* kLoadSymbol = "ptune_spm_load";
constexpr const char* kTrainSymbol = "ptune_spm_train";

}  // namespace ptune::spm
