// MTP heads on disk: DIR/mtp_heads.safetensors (the heads' parameters, key layout in
// heads.h) + DIR/mtp_config.json (io/mtp_config.h), in training checkpoints, in final/
// (merged export) and beside an exported adapter.
#pragma once

#include <string>
#include <utility>

#include "ptune/mtp/heads.h"

namespace ptune {

// Writes both files into `dir` (an existing directory, e.g. write_dir_atomic's temporary).
void save_mtp_heads(const std::string& dir, const MtpConfig& c, MtpHeadsImpl& heads);

bool has_mtp_heads(const std::string& dir);

// Copies DIR/mtp_heads.safetensors into `heads` (strict: every parameter, no extras).
void load_mtp_weights(const std::string& dir, MtpHeadsImpl& heads);

// Warm start of a later training phase: loads DIR's heads into `heads` when DIR has heads
// of the same style and count; returns whether it did.
bool warm_start_mtp_heads(const std::string& dir, MtpHeadsImpl& heads);

// Reads DIR/mtp_config.json, builds the heads on `model` and loads their weights.
std::pair<MtpConfig, MtpHeads> load_mtp_heads(const std::string& dir, Transformer& model);

}  // namespace ptune
