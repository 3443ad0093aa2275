// Saving and loading MTP heads (layout in heads_io.h).
#include "ptune/mtp/heads_io.h"

#include <torch/torch.h>

#include <filesystem>

#include "ptune/core/error.h"
#include "ptune/io/mtp_config.h"
#include "ptune/io/safetensors.h"

namespace fs = std::filesystem;

namespace ptune {

void save_mtp_heads(const std::string& dir, const MtpConfig& c, MtpHeadsImpl& heads) {
  NamedTensors t;
  for (auto& [name, p] : heads.named_tensors()) t.emplace_back(name, p.detach());
  save_safetensors(dir + "/" + kMtpHeadsFile, t,
                   {{"format", "pt"},
                    {"ptune_mtp_style", name_of(heads.style())},
                    {"ptune_mtp_heads", std::to_string(heads.n_heads())}});
  write_mtp_config(dir + "/" + kMtpConfigFile, c);
}

bool has_mtp_heads(const std::string& dir) {
  return fs::exists(fs::path(dir) / kMtpHeadsFile) && fs::exists(fs::path(dir) / kMtpConfigFile);
}

void load_mtp_weights(const std::string& dir, MtpHeadsImpl& heads) {
  const std::string path = dir + "/" + kMtpHeadsFile;
  auto f = SafetensorsFile::open(path);
  torch::NoGradGuard no_grad;
  size_t used = 0;
  for (auto& [name, p] : heads.named_tensors()) {
    if (!f->contains(name))
      runtime_error("{}: tensor '{}' missing; the file does not match {} {} heads", path, name,
                    heads.n_heads(), name_of(heads.style()));
    auto t = f->tensor(name);
    if (t.sizes() != p.sizes())
      runtime_error("{}: tensor '{}' has wrong shape; expected {}, got {}", path, name,
                    c10::str(p.sizes()), c10::str(t.sizes()));
    p.copy_(t);
    ++used;
  }
  if (used != f->tensors().size())
    runtime_error("{}: holds {} tensors, {} {} heads have {}", path, f->tensors().size(),
                  heads.n_heads(), name_of(heads.style()), used);
}

bool warm_start_mtp_heads(const std::string& dir, MtpHeadsImpl& heads) {
  if (dir.empty() || !has_mtp_heads(dir)) return false;
  MtpConfig c = read_mtp_config(dir + "/" + kMtpConfigFile);
  if (c.style != heads.style() || c.heads != heads.n_heads()) return false;
  load_mtp_weights(dir, heads);
  return true;
}

std::pair<MtpConfig, MtpHeads> load_mtp_heads(const std::string& dir, Transformer& model) {
  MtpConfig c = read_mtp_config(dir + "/" + kMtpConfigFile);
  MtpHeads heads = make_mtp_heads(c, model);
  load_mtp_weights(dir, *heads);
  return {c, heads};
}

}  // namespace ptune
