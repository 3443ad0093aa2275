// Subcommand registration. Each cmd_<verb>.cpp parses its flags and calls the library;
// no training logic lives in apps/.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>
#include <vector>

#include "ptune/core/choice.h"

namespace ptune::cli {

// An option whose value is a name from E's table (core/choice.h), parsed into `out` (which must
// outlive the parse); `extra` names accepted besides the table's (e.g. "auto"), left to `on_extra`;
// `allowed` narrows the table's names where the option takes only some of them.
template <class E, class Out>
CLI::Option* add_choice(CLI::App* cmd, const std::string& flag, Out& out, const std::string& help,
                        std::vector<std::string> extra = {},
                        std::function<void(const std::string&)> on_extra = {},
                        std::vector<std::string> allowed = choice_name_list<E>()) {
  std::vector<std::string> names = extra;
  for (const auto& n : allowed) names.push_back(n);
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : " | ") + n;
  return cmd
      ->add_option_function<std::string>(
          flag,
          [&out, extra, on_extra](const std::string& s) {
            if (std::find(extra.begin(), extra.end(), s) != extra.end())
              on_extra(s);
            else
              out = *parse_choice<E>(s);
          },
          help + ": " + list)
      ->check(CLI::IsMember(names));
}

struct GlobalOptions {
  std::string log_level = "info";
  bool quiet = false;
  std::vector<std::string> argv;  // the command line as given (train --nproc runs it again)
};

// Thrown to end the process with `code`, its reason already reported (train --nproc: the first
// failing worker's exit code).
struct ExitCode {
  int code;
};

// Sets up logging from the global flags; every command calls it first.
void start(const GlobalOptions& g);

void add_train(CLI::App& app, const GlobalOptions& g);
void add_eval(CLI::App& app, const GlobalOptions& g);
void add_tokenizer(CLI::App& app, const GlobalOptions& g);
void add_info(CLI::App& app, const GlobalOptions& g);
void add_bench(CLI::App& app, const GlobalOptions& g);
void add_merge_lora(CLI::App& app, const GlobalOptions& g);
void add_generate(CLI::App& app, const GlobalOptions& g);
void add_report(CLI::App& app, const GlobalOptions& g);

}  // namespace ptune::cli
