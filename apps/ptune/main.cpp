// ptune entry point: CLI11 parsing, logging setup, and the one place that turns errors
// into exit codes (0 ok, 1 runtime failure, 2 usage or recipe error).
#include <CLI/CLI.hpp>

#include <iostream>

#include "ptune/core/error.h"
#include "ptune/core/log.h"

int main(int argc, char** argv) {
  CLI::App app{"ptune: fine-tune LLaMA-family models (full, LoRA, adapters, prefix, MTP)"};
  app.set_version_flag("--version", std::string("ptune ") + PTUNE_VERSION);
  app.require_subcommand(1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  return 0;
}
