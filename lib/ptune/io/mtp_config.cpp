// mtp_config.json reader and writer (layout in mtp_config.h).
#include "ptune/io/mtp_config.h"

#include <nlohmann/json.hpp>

#include "ptune/core/error.h"
#include "ptune/io/fs.h"

namespace ptune {

void write_mtp_config(const std::string& path, const MtpConfig& c) {
  nlohmann::json j = {{"style", name_of(c.style)},
                      {"heads", c.heads},
                      {"loss_weight", c.loss_weight},
                      {"head_decay", c.head_decay},
                      {"train_base", c.train_base}};
  write_file_atomic(path, j.dump(2) + "\n");
}

MtpConfig read_mtp_config(const std::string& path) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    runtime_error("{}: not valid JSON: {}", path, e.what());
  }
  if (!j.is_object()) runtime_error("{}: expected a JSON object, got {}", path, j.type_name());
  MtpConfig c;
  auto field = [&](const char* key, auto& out) {
    if (!j.contains(key)) return;
    try {
      j.at(key).get_to(out);
    } catch (const nlohmann::json::exception&) {
      runtime_error("{}: field '{}' has the wrong type: {}", path, key, j.at(key).dump());
    }
  };
  std::string style;
  field("style", style);
  field("heads", c.heads);
  field("loss_weight", c.loss_weight);
  field("head_decay", c.head_decay);
  field("train_base", c.train_base);
  const auto parsed = parse_choice<MtpStyle>(style);
  if (!parsed || *parsed == MtpStyle::kNone)
    runtime_error("{}: style must be parallel or sequential, got '{}'", path, style);
  c.style = *parsed;
  if (c.heads <= 0) runtime_error("{}: heads must be > 0, got {}", path, c.heads);
  return c;
}

}  // namespace ptune
