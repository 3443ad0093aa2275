// ptune tokenizer train|encode|decode: SentencePiece from the command line. train defaults to
// LLaMA's settings (identity normalization, byte fallback, spaces kept); encode and decode are
// filters: one line in, one line out (ids separated by spaces).
#include <chrono>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "commands.h"
#include "ptune/core/error.h"
#include "ptune/data/tokenizer.h"

namespace ptune::cli {

void add_tokenizer(CLI::App& app, const GlobalOptions& g) {
  auto* cmd = app.add_subcommand("tokenizer", "train a SentencePiece tokenizer, encode, decode");
  cmd->require_subcommand(1);

  auto t = std::make_shared<TokenizerTrainOptions>();
  auto* train =
      cmd->add_subcommand("train", "train a tokenizer on a text corpus (one sentence per line)");
  train->add_option("-i,--input", t->input, "corpus file ('-' = stdin)")->required();
  train
      ->add_option("--vocab-size", t->vocab_size,
                   "vocabulary size, the 4 special and 256 byte pieces included")
      ->capture_default_str();
  train->add_option("-o,--out", t->out, "output .model path")->required();
  train->add_option("--model-type", t->model_type, "bpe | unigram")
      ->check(CLI::IsMember({"bpe", "unigram"}))
      ->capture_default_str();
  // The defaults are LLaMA's SentencePiece settings (see TokenizerTrainOptions).
  train
      ->add_option("--normalization", t->normalization,
                   "identity | nmt_nfkc | nfkc | nmt_nfkc_cf | nfkc_cf (identity: text as written)")
      ->capture_default_str();
  train
      ->add_option("--character-coverage", t->character_coverage,
                   "share of the corpus's characters that get a piece; the rest become byte pieces")
      ->capture_default_str();
  train->add_flag(
      "--byte-fallback,!--no-byte-fallback", t->byte_fallback,
      "characters outside the vocabulary become UTF-8 byte pieces, not unk (default: on)");
  train->add_flag("--remove-extra-whitespaces,!--no-remove-extra-whitespaces",
                  t->remove_extra_whitespaces,
                  "strip leading/trailing spaces and collapse runs of spaces (default: off)");
  train->add_flag("--dummy-prefix,!--no-dummy-prefix", t->add_dummy_prefix,
                  "tokenize the text as if it started with a space (default: on)");
  train->add_flag("--split-digits,!--no-split-digits", t->split_digits,
                  "every digit a piece of its own (default: on)");
  train->add_flag("--whitespace-only-pieces,!--no-whitespace-only-pieces",
                  t->allow_whitespace_only_pieces,
                  "allow pieces made of spaces only (default: on)");
  train->add_flag("--split-by-unicode-script,!--no-split-by-unicode-script",
                  t->split_by_unicode_script, "no piece spans two scripts (default: on)");
  train->callback([t, &g] {
    start(g);
    train_tokenizer(*t);
    std::cout << t->out << "\n";
  });

  auto model = std::make_shared<std::string>();
  auto* encode = cmd->add_subcommand("encode", "text lines on stdin -> id lines on stdout");
  encode->add_option("-m,--model", *model, "tokenizer.json, SentencePiece .model or model dir")
      ->required();
  encode->callback([model, &g] {
    start(g);
    Tokenizer tok = Tokenizer::load(*model);
    for (std::string line; std::getline(std::cin, line);) {
      const auto ids = tok.encode(line);
      for (size_t i = 0; i < ids.size(); ++i) std::cout << (i ? " " : "") << ids[i];
      std::cout << "\n";
    }
  });

  struct BenchOpts {
    std::string model, input;
    int64_t repeats = 3;
  };
  auto b = std::make_shared<BenchOpts>();
  auto* bench = cmd->add_subcommand(
      "bench", "encode throughput, one thread: each line of a file in turn (JSON on stdout)");
  bench->add_option("-m,--model", b->model, "tokenizer.json, SentencePiece .model or model dir")
      ->required();
  bench->add_option("-i,--input", b->input, "text file, encoded line by line (newlines kept)")
      ->required();
  bench->add_option("--repeats", b->repeats, "passes over the file; the fastest is reported")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  bench->callback([b, &g] {
    start(g);
    Tokenizer tok = Tokenizer::load(b->model);
    std::ifstream in(b->input, std::ios::binary);
    if (!in) usage_error("tokenizer bench: cannot read '{}'", b->input);
    std::vector<std::string> lines;
    int64_t bytes = 0;
    for (std::string line; std::getline(in, line);) {
      line += "\n";
      bytes += static_cast<int64_t>(line.size());
      lines.push_back(std::move(line));
    }
    double best = 0;
    int64_t tokens = 0;
    for (int64_t r = 0; r < b->repeats; ++r) {
      tokens = 0;
      const auto t0 = std::chrono::steady_clock::now();
      for (const auto& line : lines) tokens += static_cast<int64_t>(tok.encode(line).size());
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (r == 0 || s < best) best = s;
    }
    nlohmann::json j = {{"tokenizer", tok.path()},       {"engine", "ptune"}, {"bytes", bytes},
                        {"lines", lines.size()},         {"tokens", tokens},  {"seconds", best},
                        {"mb_per_s", bytes / 1e6 / best}};
    std::cout << j.dump() << "\n";
  });

  auto* decode = cmd->add_subcommand("decode", "id lines on stdin -> text lines on stdout");
  decode->add_option("-m,--model", *model, "tokenizer.json, SentencePiece .model or model dir")
      ->required();
  decode->callback([model, &g] {
    start(g);
    Tokenizer tok = Tokenizer::load(*model);
    int64_t line_no = 0;
    for (std::string line; std::getline(std::cin, line);) {
      ++line_no;
      std::istringstream in(line);
      std::vector<int32_t> ids;
      std::string word;
      while (in >> word) {
        char* end = nullptr;
        const long v = std::strtol(word.c_str(), &end, 10);
        if (*end != '\0' || v < 0 || v >= tok.vocab_size())
          usage_error("decode: stdin line {}: '{}' is not a token id in [0, {})", line_no, word,
                      tok.vocab_size());
        ids.push_back(static_cast<int32_t>(v));
      }
      std::cout << tok.decode(ids) << "\n";
    }
  });
}

}  // namespace ptune::cli
