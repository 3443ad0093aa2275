// JSON-lines metrics sink.
#include "ptune/train/metrics.h"

#include <sys/resource.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "ptune/core/error.h"
#include "ptune/core/json.h"

namespace ptune {

double peak_rss_mb() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

std::string metric_json(const MetricRecord& r) {
  nlohmann::ordered_json j;
  // "step" first, then alphabetical: stable and easy to read.
  auto put = [&](const std::string& k, const MetricValue& v) {
    std::visit([&](const auto& x) { j[k] = x; }, v);
  };
  if (auto it = r.find("step"); it != r.end()) put(it->first, it->second);
  for (const auto& [k, v] : r)
    if (k != "step") put(k, v);
  return j.dump();
}

MetricsSink::MetricsSink(const std::string& path, int64_t truncate_after_step) {
  if (truncate_after_step >= 0) {
    std::vector<std::string> keep;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) {
      auto j = parse_json_or_discarded(line);
      if (j.is_object() && j.contains("step") && j["step"].is_number_integer() &&
          j["step"].get<int64_t>() > truncate_after_step)
        continue;
      keep.push_back(line);
    }
    in.close();
    std::ofstream out(path, std::ios::trunc);
    for (const auto& l : keep) out << l << "\n";
  }
  f_ = std::fopen(path.c_str(), "a");
  if (!f_) runtime_error("metrics: cannot open '{}' for appending", path);
}

MetricsSink::~MetricsSink() {
  if (f_) std::fclose(f_);
}

void MetricsSink::write(const MetricRecord& r) {
  const std::string line = metric_json(r) + "\n";
  std::fwrite(line.data(), 1, line.size(), f_);
  std::fflush(f_);
}

}  // namespace ptune
