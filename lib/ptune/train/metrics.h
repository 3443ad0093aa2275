// metrics.jsonl: one JSON object per log step, appended and flushed as training goes, so
// `tail -f` and `jq` work during the run. The only train/ file that speaks JSON.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <variant>

namespace ptune {

using MetricValue = std::variant<int64_t, double, std::string>;
using MetricRecord = std::map<std::string, MetricValue>;

class MetricsSink {
 public:
  // Opens `path` for appending. With `truncate_after_step` >= 0, first drops records whose
  // "step" is greater (a resumed run rewrites the steps it repeats).
  MetricsSink(const std::string& path, int64_t truncate_after_step = -1);
  ~MetricsSink();
  MetricsSink(const MetricsSink&) = delete;
  MetricsSink& operator=(const MetricsSink&) = delete;
  void write(const MetricRecord& r);

 private:
  std::FILE* f_ = nullptr;
};

// One record as a JSON line (also used by eval's stdout output).
std::string metric_json(const MetricRecord& r);

// Peak resident memory of this process so far (ru_maxrss), MB.
double peak_rss_mb();

}  // namespace ptune
