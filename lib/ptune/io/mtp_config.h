// mtp_config.json: the MTP fields of a run ({"style", "heads", "loss_weight", "head_decay",
// "train_base"}), written beside mtp_heads.safetensors in checkpoints and exports so eval
// and generate can rebuild the heads. ptune's own layout (HF has no MTP config).
#pragma once

#include <string>

#include "ptune/config/recipe.h"

namespace ptune {

constexpr const char* kMtpConfigFile = "mtp_config.json";
constexpr const char* kMtpHeadsFile = "mtp_heads.safetensors";

void write_mtp_config(const std::string& path, const MtpConfig& c);  // atomic
MtpConfig read_mtp_config(const std::string& path);  // errors name the file and field

}  // namespace ptune
