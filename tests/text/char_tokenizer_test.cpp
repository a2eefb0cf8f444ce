// CharTokenizer: the documented fixed vocabulary, round trips, special tokens, unknown characters.
#include <gtest/gtest.h>

#include <random>

#include "grpo/text/char_tokenizer.h"

namespace grpo::text {
namespace {

TEST(CharTokenizerTest, VocabularyIsTheDocumentedTable) {
  const CharTokenizer tok;
  EXPECT_EQ(tok.kind(), "char");
  EXPECT_EQ(tok.vocab_size(), 101);
  EXPECT_EQ(tok.pad_id(), 0);
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(tok.eos_id(), 2);
  EXPECT_EQ(tok.eos_ids(), std::vector<int64_t>{2});
  EXPECT_EQ(tok.token_bytes(0), "<pad>");
  EXPECT_EQ(tok.token_bytes(1), "<bos>");
  EXPECT_EQ(tok.token_bytes(2), "<eos>");
  EXPECT_EQ(tok.token_bytes(3), "<unk>");
  EXPECT_EQ(tok.token_bytes(4), "\t");
  EXPECT_EQ(tok.token_bytes(5), "\n");
  // The examples written in char_tokenizer.h.
  EXPECT_EQ(tok.encode(" 0Aa~"), (std::vector<int64_t>{6, 22, 39, 71, 100}));
  // Every printable ASCII character, in order, from 6 to 100; ids are one-to-one.
  for (int c = 32; c <= 126; ++c) {
    const std::string s(1, char(c));
    ASSERT_EQ(tok.encode(s), std::vector<int64_t>{6 + c - 32}) << "char " << c;
    EXPECT_EQ(tok.token_bytes(6 + c - 32), s);
    EXPECT_EQ(tok.token_id(s), 6 + c - 32);
  }
  for (int64_t id = 0; id < 4; ++id) EXPECT_TRUE(tok.is_special(id)) << id;
  for (int64_t id = 4; id < 101; ++id) EXPECT_FALSE(tok.is_special(id)) << id;
  EXPECT_EQ(tok.token_id("<eos>"), 2);
  EXPECT_EQ(tok.token_id("\n"), 5);
  EXPECT_FALSE(tok.token_id("\r"));
  EXPECT_FALSE(tok.token_id("ab"));
  EXPECT_EQ(tok.token_bytes(101), "");
  EXPECT_EQ(tok.token_bytes(-1), "");
}

TEST(CharTokenizerTest, RoundTripsTemplatesAndRandomText) {
  const CharTokenizer tok;
  const std::string r1 =
      "A conversation between User and Assistant. ... <think> reasoning process here </think> "
      "<answer> answer here </answer>.\nUser: Using the numbers [19, 36, 55, 7], create an "
      "equation that equals 65.\tAssistant: <think>";
  const auto ids = tok.encode(r1);
  EXPECT_EQ(ids.size(), r1.size());  // tags are plain characters, one id each
  EXPECT_EQ(tok.decode(ids), r1);
  // Random strings over the whole vocabulary (seed 7), odd lengths.
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> pick(0, 96);
  for (const int len : {1, 3, 7, 19, 733}) {
    std::string s;
    for (int i = 0; i < len; ++i) {
      const int k = pick(rng);
      s.push_back(k == 95 ? '\t' : k == 96 ? '\n' : char(32 + k));
    }
    EXPECT_EQ(tok.decode(tok.encode(s)), s) << "length " << len;
    EXPECT_EQ(tok.encode(s).size(), s.size());
  }
}

TEST(CharTokenizerTest, SpecialTokensInTextAreSplitOut) {
  const CharTokenizer tok;
  EXPECT_EQ(tok.encode("a<eos>b<pad><bos><unk>"), (std::vector<int64_t>{71, 2, 72, 0, 1, 3}));
  EXPECT_EQ(tok.decode(tok.encode("a<eos>b")), "a<eos>b");
  EXPECT_EQ(tok.decode(tok.encode("a<eos>b<unk>"), /*skip_special=*/true), "ab");
  // Near misses stay characters.
  EXPECT_EQ(tok.encode("<eos").size(), 4u);
  EXPECT_EQ(tok.encode("<EOS>").size(), 5u);
  EXPECT_EQ(tok.encode("<<eos>>"), (std::vector<int64_t>{34, 2, 36}));
}

TEST(CharTokenizerTest, UnknownCharactersBecomeOneUnkEach) {
  const CharTokenizer tok;
  // é (2 bytes), 日 (3), 😀 (4), \r and a control byte: one <unk> per character.
  EXPECT_EQ(tok.encode("a\xC3\xA9" "b\xE6\x97\xA5\xF0\x9F\x98\x80\r\x01"),
            (std::vector<int64_t>{71, 3, 72, 3, 3, 3, 3}));
  EXPECT_EQ(tok.count_unknown("a\xC3\xA9" "b\xE6\x97\xA5\xF0\x9F\x98\x80\r\x01"), 5u);
  // Malformed UTF-8: a lone continuation byte, a cut 3-byte sequence, then ASCII: the cut
  // sequence is one character, as U+FFFD would replace it.
  EXPECT_EQ(tok.encode("\x80" "x\xE6\x97" "y"), (std::vector<int64_t>{3, 94, 3, 95}));
  EXPECT_EQ(tok.count_unknown("\x80" "x\xE6\x97" "y"), 2u);
  // A spelled <unk> is the special token, not an unknown character.
  EXPECT_EQ(tok.count_unknown("<unk>"), 0u);
  EXPECT_EQ(tok.count_unknown("plain text\n"), 0u);
  EXPECT_EQ(tok.decode(tok.encode("caf\xC3\xA9")), "caf<unk>");
}

}  // namespace
}  // namespace grpo::text
