// ptune tokenizer train|encode|decode: SentencePiece from the command line. encode and
// decode are filters: one line in, one line out (ids separated by spaces).
#include <iostream>
#include <sstream>

#include "commands.h"
#include "ptune/core/error.h"
#include "ptune/data/tokenizer.h"

namespace ptune::cli {

void add_tokenizer(CLI::App& app, const GlobalOptions& g) {
  auto* cmd = app.add_subcommand("tokenizer", "train a SentencePiece tokenizer, encode, decode");
  cmd->require_subcommand(1);

  auto t = std::make_shared<TokenizerTrainOptions>();
  auto* train = cmd->add_subcommand("train", "train a tokenizer on a text corpus (one sentence per line)");
  train->add_option("-i,--input", t->input, "corpus file ('-' = stdin)")->required();
  train->add_option("--vocab-size", t->vocab_size, "vocabulary size")->capture_default_str();
  train->add_option("-o,--out", t->out, "output .model path")->required();
  train->add_option("--model-type", t->model_type, "bpe | unigram")
      ->check(CLI::IsMember({"bpe", "unigram"}))
      ->capture_default_str();
  train->callback([t, &g] {
    start(g);
    train_tokenizer(*t);
    std::cout << t->out << "\n";
  });

  auto model = std::make_shared<std::string>();
  auto* encode = cmd->add_subcommand("encode", "text lines on stdin -> id lines on stdout");
  encode->add_option("-m,--model", *model, "SentencePiece .model")->required();
  encode->callback([model, &g] {
    start(g);
    Tokenizer tok = Tokenizer::load(*model);
    for (std::string line; std::getline(std::cin, line);) {
      const auto ids = tok.encode(line);
      for (size_t i = 0; i < ids.size(); ++i) std::cout << (i ? " " : "") << ids[i];
      std::cout << "\n";
    }
  });

  auto* decode = cmd->add_subcommand("decode", "id lines on stdin -> text lines on stdout");
  decode->add_option("-m,--model", *model, "SentencePiece .model")->required();
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
