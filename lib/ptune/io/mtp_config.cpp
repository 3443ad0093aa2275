// mtp_config.json reader and writer (layout in mtp_config.h).
#include "ptune/io/mtp_config.h"

#include <nlohmann/json.hpp>

#include "ptune/core/error.h"
#include "ptune/io/fs.h"
#include "ptune/io/json_fields.h"

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
  const nlohmann::json j = read_json_object(path);
  const JsonFields f(j, path);
  MtpConfig c;
  const std::string style = f.string("style", "");
  c.heads = f.integer("heads", c.heads);
  c.loss_weight = f.number("loss_weight", c.loss_weight);
  c.head_decay = f.number("head_decay", c.head_decay);
  c.train_base = f.boolean("train_base", c.train_base);
  const auto parsed = parse_choice<MtpStyle>(style);
  if (!parsed || *parsed == MtpStyle::kNone)
    runtime_error("{}: style must be parallel or sequential, got '{}'", path, style);
  c.style = *parsed;
  if (c.heads <= 0) runtime_error("{}: heads must be > 0, got {}", path, c.heads);
  return c;
}

}  // namespace ptune
