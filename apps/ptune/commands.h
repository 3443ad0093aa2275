// Subcommand registration. Each cmd_<verb>.cpp parses its flags and calls the library;
// no training logic lives in apps/.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace ptune::cli {

struct GlobalOptions {
  std::string log_level = "info";
  bool quiet = false;
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

}  // namespace ptune::cli
