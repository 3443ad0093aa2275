// libptune_sentencepiece.so: the only code that includes SentencePiece headers. Built as a
// separate module (see sentencepiece_module.h for why) and dlopen()ed by tokenizer.cpp.
// No ptune library code here: plain SentencePiece calls behind the spm::Model interface.
#include "ptune/data/sentencepiece_module.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

namespace {

class SpModel final : public ptune::spm::Model {
 public:
  std::string load(const char* path) {
    auto s = sp_.Load(path);
    return s.ok() ? "" : s.ToString();
  }
  std::string encode(const std::string& text, std::vector<int>* ids) const override {
    auto s = sp_.Encode(text, ids);
    return s.ok() ? "" : s.ToString();
  }
  std::string decode(const std::vector<int>& ids, std::string* text) const override {
    auto s = sp_.Decode(ids, text);
    return s.ok() ? "" : s.ToString();
  }
  int piece_size() const override { return sp_.GetPieceSize(); }
  int bos_id() const override { return sp_.bos_id(); }
  int eos_id() const override { return sp_.eos_id(); }
  int pad_id() const override { return sp_.pad_id(); }

 private:
  sentencepiece::SentencePieceProcessor sp_;
};

}  // namespace

extern "C" {

__attribute__((visibility("default"))) int ptune_spm_abi_version() {
  return ptune::spm::kAbiVersion;
}

__attribute__((visibility("default"))) ptune::spm::Model* ptune_spm_load(const char* path,
                                                                         std::string* error) {
  auto m = new SpModel();
  try {
    *error = m->load(path);
  } catch (const std::exception& e) {  // e.g. darts_clone on a model with an empty piece
    *error = e.what();
  }
  if (error->empty()) return m;
  delete m;
  return nullptr;
}

__attribute__((visibility("default"))) bool ptune_spm_train(
    const std::unordered_map<std::string, std::string>* args, std::string* error) {
  auto s = sentencepiece::SentencePieceTrainer::Train(*args);
  *error = s.ok() ? "" : s.ToString();
  return s.ok();
}

}  // extern "C"
