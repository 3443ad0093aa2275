// ptune report RUN_DIR... [-o FILE]: one self-contained HTML file of the runs' curves and
// recipe differences (report/report.h).
#include <iostream>

#include "commands.h"
#include "ptune/report/report.h"
#include "ptune/train/metrics.h"

namespace ptune::cli {

void add_report(CLI::App& app, const GlobalOptions& g) {
  auto dirs = std::make_shared<std::vector<std::string>>();
  auto out = std::make_shared<std::string>("report.html");
  auto* cmd = app.add_subcommand(
      "report", "HTML report of runs: curves overlaid, recipe differences, final numbers");
  cmd->add_option("runs", *dirs, "run directories (each holds metrics.jsonl)")->required();
  cmd->add_option("-o,--out", *out, "the HTML file to write")->capture_default_str();
  cmd->callback([dirs, out, &g] {
    start(g);
    write_report(*dirs, *out);
    std::cout << metric_json({{"report", *out}, {"runs", static_cast<int64_t>(dirs->size())}})
              << "\n";
  });
}

}  // namespace ptune::cli
