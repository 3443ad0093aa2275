// `ptune report`: one self-contained HTML file of one or more run directories (metrics.jsonl,
// recipe.yaml, run.json): training and eval curves against step or tokens, the runs overlaid,
// and a table of what differs between their recipes and how each ended. The charts are drawn
// by Chart.js (Debian's libjs-chart.js), inlined, so the file opens without network access.
#pragma once

#include <string>
#include <vector>

namespace ptune {

// Where Chart.js is read from: $PTUNE_CHART_JS, else Debian's libjs-chart.js path.
std::string chart_js_path();

// The report of `run_dirs` as HTML. A run still in progress is reported as far as it got (a
// last metrics line being written is skipped). Runtime error naming the file for a run dir
// without metrics.jsonl, a malformed record, or Chart.js missing.
std::string render_report(const std::vector<std::string>& run_dirs);

// render_report written atomically to `out`; `out` must not be one of the runs' files.
void write_report(const std::vector<std::string>& run_dirs, const std::string& out);

}  // namespace ptune
