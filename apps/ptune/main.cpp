// ptune entry point: CLI11 parsing, and the one place that turns errors into exit codes
// (0 ok, 1 runtime failure, 2 usage or recipe error).
#include <c10/util/Exception.h>

#include <iostream>
#include <new>

#include "commands.h"
#include "ptune/core/blas.h"
#include "ptune/core/build_info.h"
#include "ptune/core/error.h"
#include "ptune/core/log.h"
#include "ptune/core/malloc_config.h"

namespace ptune::cli {

void start(const GlobalOptions& g) {
  setup_logging(g.log_level, g.quiet);
}

}  // namespace ptune::cli

int main(int argc, char** argv) {
  using namespace ptune::cli;
  ptune::reexec_with_fast_blas(argv);
  ptune::keep_freed_memory();
  CLI::App app{"ptune: fine-tune LLaMA-family models (full, LoRA, adapters, prefix, MTP)", "ptune"};
  app.set_version_flag(
      "--version", [] { return ptune::version_report(); },
      "print the version, the LibTorch build and the CPU capabilities");
  app.require_subcommand(1);
  app.fallthrough();
  GlobalOptions g;
  g.argv.assign(argv, argv + argc);
  app.add_option("--log-level", g.log_level, "trace|debug|info|warn|error|off (logs go to stderr)")
      ->capture_default_str();
  app.add_flag("-q,--quiet", g.quiet, "only warnings and errors on stderr");
  add_train(app, g);
  add_eval(app, g);
  add_tokenizer(app, g);
  add_info(app, g);
  add_bench(app, g);
  add_merge_lora(app, g);
  add_generate(app, g);
  add_report(app, g);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  } catch (const ExitCode& e) {
    return e.code;
  } catch (const ptune::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return e.exit_code();
  } catch (const std::bad_alloc&) {
    // Sizes are checked against the machine before the model and batches are allocated, so
    // this is memory the estimate did not foresee (or other processes took).
    std::cerr
        << "error: out of memory: an allocation failed (std::bad_alloc); lower the batch size "
           "or sequence length (train.batch_size, data.seq_len; --batch-size, --seq-len), "
           "use a smaller model, or free memory on this machine\n";
    return 1;
  } catch (const c10::Error& e) {
    std::cerr << "error: " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
