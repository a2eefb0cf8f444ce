// The Tokenizer interface: incremental decoding (StreamDecoder) against decode(), and the
// make_tokenizer factory with its config errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "common/test_util.h"
#include "grpo/config/loader.h"
#include "grpo/core/error.h"
#include "grpo/text/char_tokenizer.h"
#include "grpo/text/hf_tokenizer.h"
#include "grpo/text/utf8.h"

namespace grpo::text {
namespace {

using ::testing::HasSubstr;

const std::string kQwenDir = "tests/golden/tokenizer_bpe/qwen2_style";

std::unique_ptr<HfTokenizer> qwen() { return HfTokenizer::load(testing::source_path(kQwenDir)); }

// Feeds ids one by one; checks every piece is valid UTF-8 and returns the pieces.
std::vector<std::string> stream(const Tokenizer& tok, const std::vector<int64_t>& ids,
                                bool skip_special = false) {
  StreamDecoder dec(tok, skip_special);
  std::vector<std::string> pieces;
  for (const int64_t id : ids) {
    pieces.push_back(dec.push(id));
    EXPECT_TRUE(utf8_valid(pieces.back()));
    EXPECT_LE(dec.pending_bytes(), 3u);
  }
  pieces.push_back(dec.flush());
  EXPECT_EQ(dec.pending_bytes(), 0u);
  return pieces;
}

std::string join(const std::vector<std::string>& pieces) {
  std::string s;
  for (const auto& p : pieces) s += p;
  return s;
}

TEST(StreamDecoderTest, HoldsBackCharactersCutBetweenTokens) {
  const auto tok = qwen();
  // In this vocabulary 😀 is three tokens (golden decode_cases): nothing comes out until the
  // third, then the whole character.
  const std::string text = "\xF0\x9F\x98\x80 ok";
  const std::vector<int64_t> ids = tok->encode(text);
  ASSERT_GE(ids.size(), 4u);
  StreamDecoder dec(*tok);
  EXPECT_EQ(dec.push(ids[0]), "");
  EXPECT_GT(dec.pending_bytes(), 0u);
  EXPECT_EQ(dec.push(ids[1]), "");
  EXPECT_EQ(dec.push(ids[2]), "\xF0\x9F\x98\x80");
  EXPECT_EQ(dec.pending_bytes(), 0u);
  std::string rest;
  for (size_t i = 3; i < ids.size(); ++i) rest += dec.push(ids[i]);
  EXPECT_EQ(rest + dec.flush(), " ok");
  // A character still cut at the end is flushed as U+FFFD, as decode() gives it.
  dec.reset();
  EXPECT_EQ(dec.push(ids[0]), "");
  EXPECT_EQ(dec.flush(), std::string(kReplacementChar));
  EXPECT_EQ(tok->decode({ids[0]}), std::string(kReplacementChar));
}

TEST(StreamDecoderTest, ConcatenationEqualsDecodeOnTextAndRandomIds) {
  const auto tok = qwen();
  const std::string texts[] = {
      "<|im_start|>user\n日本語 😀👍🏽 café<|im_end|>",
      "∑∫√π ≤ ≥ <think> 19 + 36 </think>",
      "مرحبا 👨\u200d👩\u200d👧 नमस्ते",
  };
  for (const auto& t : texts) {
    const auto ids = tok->encode(t);
    EXPECT_EQ(join(stream(*tok, ids)), t);
    EXPECT_EQ(join(stream(*tok, ids, true)), tok->decode(ids, true));
    // Every prefix of the streamed text is a prefix of the final text.
    std::string so_far;
    for (const auto& p : stream(*tok, ids)) {
      so_far += p;
      EXPECT_EQ(t.compare(0, so_far.size(), so_far), 0);
    }
  }
  // Arbitrary id sequences (what an untrained model samples): cut characters, stray
  // continuation bytes, specials, ids without a token. Seed 3, odd lengths.
  std::mt19937 rng(3);
  std::uniform_int_distribution<int64_t> pick(-2, tok->vocab_size() + 2);
  for (const int len : {1, 3, 7, 19, 733}) {
    std::vector<int64_t> ids(len);
    for (auto& id : ids) id = pick(rng);
    EXPECT_EQ(join(stream(*tok, ids)), tok->decode(ids)) << "length " << len;
    EXPECT_EQ(join(stream(*tok, ids, true)), tok->decode(ids, true)) << "length " << len;
  }
}

TEST(StreamDecoderTest, CharTokenizerStreamsOneCharacterPerToken) {
  const CharTokenizer tok;
  const std::string text = "<think> 3 * 4 = 12 </think>\n<eos>";
  const auto ids = tok.encode(text);
  const auto pieces = stream(tok, ids);
  EXPECT_EQ(join(pieces), text);
  EXPECT_EQ(pieces[0], "<");
  EXPECT_EQ(pieces[ids.size() - 1], "<eos>");
  EXPECT_EQ(join(stream(tok, ids, true)), "<think> 3 * 4 = 12 </think>\n");
}

// ---- the factory ------------------------------------------------------------------------------

template <typename F>
std::string usage_error_of(F&& f) {
  try {
    f();
  } catch (const UsageError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a UsageError";
  return "";
}

TEST(MakeTokenizerTest, PicksTheConfiguredKind) {
  config::TokenizerConfig cfg;  // default: char
  EXPECT_EQ(make_tokenizer(cfg, "")->kind(), "char");
  EXPECT_EQ(make_tokenizer(config::Config{})->vocab_size(), CharTokenizer::kVocabSize);

  const auto reference = qwen();
  const std::string text = "Hello <|im_end|> 日本";
  cfg.kind = "hf";
  for (const std::string& path : {kQwenDir, kQwenDir + "/tokenizer.json"}) {
    cfg.path = testing::source_path(path);
    const auto tok = make_tokenizer(cfg, "");
    EXPECT_EQ(tok->kind(), "hf");
    EXPECT_EQ(tok->encode(text), reference->encode(text)) << path;
  }
  // Empty tokenizer.path: model.path, a directory or a weights file inside one.
  cfg.path.clear();
  EXPECT_EQ(make_tokenizer(cfg, testing::source_path(kQwenDir))->encode(text), reference->encode(text));
  const std::string dir = testing::fresh_dir("make_tokenizer_model");
  testing::write_file(dir + "/tokenizer.json", testing::read_file(testing::source_path(kQwenDir + "/tokenizer.json")));
  testing::write_file(dir + "/model.safetensors", "");
  EXPECT_EQ(make_tokenizer(cfg, dir + "/model.safetensors")->encode(text), reference->encode(text));
}

TEST(MakeTokenizerTest, ConfigErrorsNameTheKey) {
  config::TokenizerConfig cfg;
  cfg.path = "x/tokenizer.json";
  EXPECT_THAT(usage_error_of([&] { make_tokenizer(cfg, ""); }),
              AllOf(HasSubstr("tokenizer.path"), HasSubstr("tokenizer.kind is char")));
  cfg.kind = "hf";
  cfg.path.clear();
  EXPECT_THAT(usage_error_of([&] { make_tokenizer(cfg, ""); }),
              AllOf(HasSubstr("tokenizer.path"), HasSubstr("model.path")));
  cfg.path = "/nonexistent/tok.json";
  EXPECT_THAT(usage_error_of([&] { make_tokenizer(cfg, ""); }),
              AllOf(HasSubstr("tokenizer.path"), HasSubstr("/nonexistent/tok.json"), HasSubstr("does not exist")));
  const std::string empty_dir = testing::fresh_dir("make_tokenizer_empty");
  cfg.path.clear();
  EXPECT_THAT(usage_error_of([&] { make_tokenizer(cfg, empty_dir); }),
              AllOf(HasSubstr("model.path"), HasSubstr("no tokenizer.json in")));
  testing::write_file(empty_dir + "/tokenizer.model", "spm");
  EXPECT_THAT(usage_error_of([&] { make_tokenizer(cfg, empty_dir); }),
              AllOf(HasSubstr("no tokenizer.json in"), HasSubstr("tokenizer.model there is SentencePiece")));
  cfg.kind = "sentencepiece";
  EXPECT_THAT(usage_error_of([&] { make_tokenizer(cfg, ""); }), HasSubstr("tokenizer.kind"));

  // From a whole config, the message carries the YAML line of the key.
  const config::Config c = config::load_string(
      "tokenizer:\n  kind: hf\n  path: /nonexistent/dir\n", "run.yaml");
  EXPECT_THAT(usage_error_of([&] { make_tokenizer(c); }),
              AllOf(HasSubstr("run.yaml:3"), HasSubstr("tokenizer.path")));
}

TEST(MakeTokenizerTest, ABadFileIsARuntimeErrorNamingIt) {
  const std::string dir = testing::fresh_dir("make_tokenizer_bad");
  testing::write_file(dir + "/tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {}, ");
  config::TokenizerConfig cfg;
  cfg.kind = "hf";
  cfg.path = dir;
  try {
    make_tokenizer(cfg, "");
    ADD_FAILURE() << "expected an error";
  } catch (const UsageError& e) {
    ADD_FAILURE() << "a bad file is not a usage error: " << e.what();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), AllOf(HasSubstr(dir + "/tokenizer.json"), HasSubstr("not valid JSON")));
  }
}

}  // namespace
}  // namespace grpo::text
