// HfTokenizer: loading tokenizer.json and the encode pipeline of `tokenizers` (see hf_tokenizer.h).
#include "grpo/text/hf_tokenizer.h"

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <sstream>
#include <unordered_map>

#include "bpe.h"
#include "grpo/core/error.h"
#include "grpo/core/json.h"
#include "grpo/text/utf8.h"
#include "regex_split.h"

namespace grpo::text {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// ---- reading fields with errors that name the file and the field ---------------------------

std::string describe(const json& v) {
  std::string text = v.dump();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return std::string(v.type_name()) + " " + text;
}

class Fields {
 public:
  explicit Fields(std::string source) : source_(std::move(source)) {}
  const std::string& source() const { return source_; }

  [[noreturn]] void fail(const std::string& field, const std::string& message) const {
    throw Error(source_ + ": field '" + field + "': " + message);
  }
  [[noreturn]] void unsupported(const std::string& field, const std::string& what,
                                const std::string& value, const std::string& supported) const {
    fail(field, what + " '" + value + "' is not supported by grpo's tokenizer (supported: " +
                    supported + "); byte-level BPE tokenizers of the Qwen2/Qwen3, GPT-2 and "
                    "Llama-3 families load");
  }

  static std::string child(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }
  static std::string index(const std::string& path, size_t i) {
    return path + "[" + std::to_string(i) + "]";
  }

  // obj[key]; nullptr when absent (or null) and not required.
  const json* get(const json& obj, const std::string& path, const char* key, bool required) const {
    if (!obj.is_object()) fail(path, "expected an object, got " + describe(obj));
    const auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) {
      if (required) fail(child(path, key), "missing (required)");
      return nullptr;
    }
    return &*it;
  }
  const json& object(const json& obj, const std::string& path, const char* key) const {
    const json& v = *get(obj, path, key, true);
    if (!v.is_object()) fail(child(path, key), "expected an object, got " + describe(v));
    return v;
  }
  const json& array(const json& obj, const std::string& path, const char* key) const {
    const json& v = *get(obj, path, key, true);
    if (!v.is_array()) fail(child(path, key), "expected an array, got " + describe(v));
    return v;
  }
  std::string string(const json& v, const std::string& field) const {
    if (!v.is_string()) fail(field, "expected a string, got " + describe(v));
    return v.get<std::string>();
  }
  std::string string(const json& obj, const std::string& path, const char* key) const {
    return string(*get(obj, path, key, true), child(path, key));
  }
  // Optional string: "" when absent or null.
  std::string opt_string(const json& obj, const std::string& path, const char* key) const {
    const json* v = get(obj, path, key, false);
    return v ? string(*v, child(path, key)) : std::string();
  }
  bool boolean(const json& obj, const std::string& path, const char* key, bool dflt) const {
    const json* v = get(obj, path, key, false);
    if (!v) return dflt;
    if (!v->is_boolean()) fail(child(path, key), "expected true or false, got " + describe(*v));
    return v->get<bool>();
  }
  int64_t token_id(const json& v, const std::string& field) const {
    try {
      return core::json_int(v, field, 0, std::numeric_limits<int32_t>::max());
    } catch (const Error&) {
      fail(field, "expected a token id (an integer from 0 to 2^31-1), got " + describe(v));
    }
  }

 private:
  std::string source_;
};

// ---- Unicode predicates of `tokenizers` (Rust char methods), through ICU ---------------------

// Rust char::is_alphanumeric: Alphabetic, or general category Nd, Nl, No.
bool is_word_char(char32_t c) {
  if (u_isUAlphabetic(static_cast<UChar32>(c))) return true;
  const int8_t t = u_charType(static_cast<UChar32>(c));
  return t == U_DECIMAL_DIGIT_NUMBER || t == U_LETTER_NUMBER || t == U_OTHER_NUMBER;
}
// Rust char::is_whitespace: the White_Space property.
bool is_space_char(char32_t c) { return u_isUWhiteSpace(static_cast<UChar32>(c)); }

// The code point ending just before `end` (text[..end] is valid UTF-8, end > 0).
char32_t last_char(std::string_view text, size_t end, size_t* start) {
  size_t s = end - 1;
  while (s > 0 && (static_cast<unsigned char>(text[s]) & 0xC0) == 0x80) --s;
  *start = s;
  return utf8_step(text, s).code_point;
}

std::string nfc_normalize(std::string_view text) {
  if (std::all_of(text.begin(), text.end(), [](char c) { return (c & 0x80) == 0; }))
    return std::string(text);  // ASCII is always NFC
  GRPO_CHECK(text.size() < size_t(std::numeric_limits<int32_t>::max()),
             "NFC normalization: text of ", text.size(), " bytes is too long");
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* normalizer = icu::Normalizer2::getNFCInstance(status);
  GRPO_CHECK(U_SUCCESS(status), "ICU NFC normalizer unavailable: ", u_errorName(status));
  const icu::StringPiece piece(text.data(), static_cast<int32_t>(text.size()));
  if (normalizer->isNormalizedUTF8(piece, status) && U_SUCCESS(status)) return std::string(text);
  status = U_ZERO_ERROR;
  std::string out;
  icu::StringByteSink<std::string> sink(&out, static_cast<int32_t>(text.size()));
  normalizer->normalizeUTF8(0, piece, sink, nullptr, status);
  GRPO_CHECK(U_SUCCESS(status), "NFC normalization failed: ", u_errorName(status));
  return out;
}

// ---- added tokens: leftmost-longest matching over a byte trie --------------------------------

struct AddedToken {
  int64_t id;
  std::string content;
  bool special, lstrip, rstrip, single_word, normalized;
};

class TokenTrie {
 public:
  TokenTrie() : nodes_(1) {}
  bool empty() const { return nodes_.size() == 1; }

  void add(std::string_view s, int32_t token) {
    int32_t node = 0;
    for (const char ch : s) {
      const auto c = static_cast<unsigned char>(ch);
      int32_t next = step(node, c);
      if (next < 0) {
        next = static_cast<int32_t>(nodes_.size());
        nodes_[node].edges.emplace_back(c, next);
        nodes_.emplace_back();
      }
      node = next;
    }
    nodes_[node].token = token;
    first_[static_cast<unsigned char>(s[0])] = true;
  }

  // The leftmost match starting at or after `pos`, the longest among those starting there.
  bool find(std::string_view text, size_t pos, size_t* start, size_t* end, int32_t* token) const {
    for (size_t s = pos; s < text.size(); ++s) {
      if (!first_[static_cast<unsigned char>(text[s])]) continue;
      int32_t node = 0, best = -1;
      size_t best_end = 0;
      for (size_t i = s; i < text.size(); ++i) {
        node = step(node, static_cast<unsigned char>(text[i]));
        if (node < 0) break;
        if (nodes_[node].token >= 0) {
          best = nodes_[node].token;
          best_end = i + 1;
        }
      }
      if (best >= 0) {
        *start = s;
        *end = best_end;
        *token = best;
        return true;
      }
    }
    return false;
  }

 private:
  struct Node {
    std::vector<std::pair<unsigned char, int32_t>> edges;
    int32_t token = -1;
  };
  int32_t step(int32_t node, unsigned char c) const {
    for (const auto& [label, next] : nodes_[node].edges)
      if (label == c) return next;
    return -1;
  }
  std::vector<Node> nodes_;
  bool first_[256] = {};
};

}  // namespace

// ---- the tokenizer ---------------------------------------------------------------------------

struct HfTokenizer::Impl {
  std::string source;
  bool nfc = false;
  std::vector<std::unique_ptr<detail::SplitRegex>> splits;   // Split pre-tokenizers, in order
  bool add_prefix_space = false;                             // of the ByteLevel pre-tokenizer
  std::unique_ptr<detail::SplitRegex> byte_level_regex;      // null: use_regex false
  std::unique_ptr<detail::BpeModel> bpe;

  std::vector<AddedToken> added;
  std::unordered_map<std::string, int64_t> added_by_content;
  TokenTrie raw_trie, normalized_trie;  // added tokens matched before / after normalization

  std::vector<std::string> bytes;  // id -> the bytes it decodes to
  std::vector<uint8_t> flags;      // id -> kHasToken | kSpecial
  static constexpr uint8_t kHasToken = 1, kSpecial = 2;

  int64_t eos = -1, pad = -1, bos = -1;
  std::vector<int64_t> eos_all;

  void parse(const json& doc);
  void parse_normalizer(const Fields& f, const json& doc);
  void parse_pre_tokenizer(const Fields& f, const json& node, const std::string& path,
                           bool* byte_level_seen);
  void parse_model(const Fields& f, const json& doc);
  void parse_added(const Fields& f, const json& doc);
  void resolve_roles(const HfTokenRoles& roles);

  // Encoding stages.
  template <typename OnText>
  void split_added(std::string_view text, const TokenTrie& trie, std::vector<int64_t>& out,
                   OnText&& on_text) const;
  void encode_normalized(std::string_view segment, std::vector<int64_t>& out) const;
  void pre_tokenize(std::string_view piece, size_t step, std::vector<int64_t>& out) const;
};

void HfTokenizer::Impl::parse_normalizer(const Fields& f, const json& doc) {
  const json* node = f.get(doc, "", "normalizer", false);
  if (!node) return;
  // A normalizer or a (nested) Sequence of them; only NFC is implemented.
  std::function<void(const json&, const std::string&)> visit = [&](const json& n,
                                                                   const std::string& path) {
    const std::string type = f.string(n, path, "type");
    if (type == "NFC") {
      nfc = true;
    } else if (type == "Sequence") {
      const json& list = f.array(n, path, "normalizers");
      for (size_t i = 0; i < list.size(); ++i)
        visit(list[i], Fields::index(Fields::child(path, "normalizers"), i));
    } else {
      f.unsupported(Fields::child(path, "type"), "normalizer", type,
                    "NFC, a Sequence of NFC, or null");
    }
  };
  visit(*node, "normalizer");
}

void HfTokenizer::Impl::parse_pre_tokenizer(const Fields& f, const json& node,
                                            const std::string& path, bool* byte_level_seen) {
  const std::string type = f.string(node, path, "type");
  const std::string supported = "Split with behavior Isolated, ByteLevel, or a Sequence of "
                                "Splits followed by one ByteLevel";
  if (*byte_level_seen)
    f.unsupported(Fields::child(path, "type"), "pre-tokenizer after ByteLevel", type, supported);
  if (type == "Sequence") {
    const json& list = f.array(node, path, "pretokenizers");
    for (size_t i = 0; i < list.size(); ++i)
      parse_pre_tokenizer(f, list[i], Fields::index(Fields::child(path, "pretokenizers"), i),
                          byte_level_seen);
  } else if (type == "Split") {
    const std::string pattern_path = Fields::child(path, "pattern");
    const json& pattern = f.object(node, path, "pattern");
    const json* regex = f.get(pattern, pattern_path, "Regex", false);
    const json* literal = f.get(pattern, pattern_path, "String", false);
    if (!regex && !literal) f.fail(pattern_path, "expected {\"Regex\": ...} or {\"String\": ...}");
    const std::string field = Fields::child(pattern_path, regex ? "Regex" : "String");
    const std::string text = f.string(regex ? *regex : *literal, field);
    const std::string behavior = f.string(node, path, "behavior");
    if (behavior != "Isolated")
      f.unsupported(Fields::child(path, "behavior"), "Split behavior", behavior, "Isolated");
    if (f.boolean(node, path, "invert", false))
      f.unsupported(Fields::child(path, "invert"), "Split invert", "true", "false");
    splits.push_back(std::make_unique<detail::SplitRegex>(text, literal != nullptr,
                                                          f.source() + ": " + field));
  } else if (type == "ByteLevel") {
    *byte_level_seen = true;
    add_prefix_space = f.boolean(node, path, "add_prefix_space", true);
    if (f.boolean(node, path, "use_regex", true))
      byte_level_regex = std::make_unique<detail::SplitRegex>(
          detail::kGpt2Pattern, false, f.source() + ": " + path + " (GPT-2 regex)");
  } else {
    f.unsupported(Fields::child(path, "type"), "pre-tokenizer", type, supported);
  }
}

void HfTokenizer::Impl::parse_model(const Fields& f, const json& doc) {
  const json& model = f.object(doc, "", "model");
  const std::string type = f.opt_string(model, "model", "type");
  if (!type.empty() && type != "BPE") f.unsupported("model.type", "model", type, "BPE");
  if (const json* dropout = f.get(model, "model", "dropout", false))
    f.unsupported("model.dropout", "BPE dropout", dropout->dump(), "null");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const std::string v = f.opt_string(model, "model", key);
    if (!v.empty()) f.unsupported(Fields::child("model", key), key, v, "null or \"\"");
  }
  if (f.boolean(model, "model", "byte_fallback", false))
    f.unsupported("model.byte_fallback", "byte_fallback", "true",
                  "false: byte-level BPE, not SentencePiece-style byte fallback");

  const json& vocab_json = f.object(model, "model", "vocab");
  std::unordered_map<std::string, int64_t> vocab;
  vocab.reserve(vocab_json.size());
  int64_t max_id = -1;
  for (const auto& [token, id_json] : vocab_json.items()) {
    const int64_t id = f.token_id(id_json, "model.vocab[\"" + token + "\"]");
    vocab.emplace(token, id);
    max_id = std::max(max_id, id);
  }
  bytes.assign(max_id + 1, std::string());
  flags.assign(max_id + 1, 0);
  for (const auto& [token, id] : vocab) {
    if (flags[id] & kHasToken) {
      std::string other;
      for (const auto& [t, i] : vocab)
        if (i == id && t != token) other = t;
      f.fail("model.vocab", "id " + std::to_string(id) + " is given to two tokens, '" + token +
                                "' and '" + other + "'");
    }
    bytes[id] = detail::byte_level_to_bytes(token);
    flags[id] = kHasToken;
  }

  const json& merges_json = f.array(model, "model", "merges");
  std::vector<detail::BpeModel::Merge> merges;
  merges.reserve(merges_json.size());
  for (size_t i = 0; i < merges_json.size(); ++i) {
    const std::string field = Fields::index("model.merges", i);
    const json& m = merges_json[i];
    std::string left, right;
    if (m.is_string()) {  // "a b", the format before tokenizers 0.20
      const std::string s = m.get<std::string>();
      const size_t space = s.find(' ');
      if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos)
        f.fail(field, "expected \"left right\" (one space), got \"" + s + "\"");
      left = s.substr(0, space);
      right = s.substr(space + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      left = m[0].get<std::string>();
      right = m[1].get<std::string>();
    } else {
      f.fail(field, "expected a pair [\"left\", \"right\"] or \"left right\", got " + describe(m));
    }
    const auto l = vocab.find(left), r = vocab.find(right), lr = vocab.find(left + right);
    for (const auto& [it, name] : {std::pair{l, left}, std::pair{r, right}, std::pair{lr, left + right}})
      if (it == vocab.end()) f.fail(field, "token '" + name + "' is not in model.vocab");
    merges.push_back({l->second, r->second, lr->second});
  }

  int64_t unk_id = -1;
  const std::string unk = f.opt_string(model, "model", "unk_token");
  if (!unk.empty()) {
    const auto it = vocab.find(unk);
    if (it == vocab.end()) f.fail("model.unk_token", "'" + unk + "' is not in model.vocab");
    unk_id = it->second;
  }
  bpe = std::make_unique<detail::BpeModel>(std::move(vocab), merges,
                                           f.boolean(model, "model", "ignore_merges", false),
                                           unk_id, f.boolean(model, "model", "fuse_unk", false));
}

void HfTokenizer::Impl::parse_added(const Fields& f, const json& doc) {
  const json* list = f.get(doc, "", "added_tokens", false);
  if (!list) return;
  if (!list->is_array()) f.fail("added_tokens", "expected an array, got " + describe(*list));
  for (size_t i = 0; i < list->size(); ++i) {
    const std::string path = Fields::index("added_tokens", i);
    const json& t = (*list)[i];
    AddedToken a;
    a.id = f.token_id(*f.get(t, path, "id", true), Fields::child(path, "id"));
    a.content = f.string(t, path, "content");
    if (a.content.empty()) f.fail(Fields::child(path, "content"), "is empty");
    if (!utf8_valid(a.content)) f.fail(Fields::child(path, "content"), "is not valid UTF-8");
    a.special = f.boolean(t, path, "special", false);
    a.lstrip = f.boolean(t, path, "lstrip", false);
    a.rstrip = f.boolean(t, path, "rstrip", false);
    a.single_word = f.boolean(t, path, "single_word", false);
    a.normalized = f.boolean(t, path, "normalized", !a.special);
    if (a.id >= static_cast<int64_t>(bytes.size())) {
      bytes.resize(a.id + 1);
      flags.resize(a.id + 1, 0);
    }
    // Decoding runs added tokens through the ByteLevel decoder too (as `tokenizers` does).
    bytes[a.id] = detail::byte_level_to_bytes(a.content);
    flags[a.id] = kHasToken | (a.special ? kSpecial : 0);
    added_by_content[a.content] = a.id;
    // `tokenizers` matches a normalized added token by its normalized content.
    if (a.normalized)
      normalized_trie.add(nfc ? nfc_normalize(a.content) : a.content,
                          static_cast<int32_t>(added.size()));
    else
      raw_trie.add(a.content, static_cast<int32_t>(added.size()));
    added.push_back(std::move(a));
  }
}

void HfTokenizer::Impl::parse(const json& doc) {
  const Fields f(source);
  if (!doc.is_object()) f.fail("(top level)", "expected an object, got " + describe(doc));
  parse_normalizer(f, doc);
  const json* pre = f.get(doc, "", "pre_tokenizer", false);
  bool byte_level = false;
  if (pre) parse_pre_tokenizer(f, *pre, "pre_tokenizer", &byte_level);
  if (!byte_level)
    f.unsupported("pre_tokenizer", "a pre-tokenizer without ByteLevel",
                  pre ? f.opt_string(*pre, "pre_tokenizer", "type") : "null",
                  "ByteLevel, or Splits followed by ByteLevel");
  const json* decoder = f.get(doc, "", "decoder", false);
  const std::string decoder_type = decoder ? f.string(*decoder, "decoder", "type") : "null";
  if (decoder_type != "ByteLevel")
    f.unsupported(decoder ? "decoder.type" : "decoder", "decoder", decoder_type, "ByteLevel");
  parse_model(f, doc);
  parse_added(f, doc);
  if (const int missing = bpe->missing_bytes(); missing > 0)
    spdlog::warn("{}: {} of the 256 bytes have no token in model.vocab and model.unk_token is "
                 "{}; text containing them loses them when encoded (as in `tokenizers`)",
                 source, missing, f.opt_string(doc["model"], "model", "unk_token").empty()
                                      ? "null" : "set (they become it)");
}

void HfTokenizer::Impl::resolve_roles(const HfTokenRoles& roles) {
  const std::string where = roles.source.empty() ? source : roles.source;
  auto lookup = [&](const std::string& name) -> std::optional<int64_t> {
    const auto a = added_by_content.find(name);
    if (a != added_by_content.end()) return a->second;
    const auto v = bpe->vocab().find(name);
    if (v != bpe->vocab().end()) return v->second;
    return std::nullopt;
  };
  auto require = [&](const std::string& name, const char* role) {
    const auto id = lookup(name);
    GRPO_CHECK(id, where, ": ", role, " '", name, "' is not a token of ", source);
    return *id;
  };
  if (!roles.eos.empty()) {
    eos = require(roles.eos, "eos_token");
  } else {
    for (const char* name : {"<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>"})
      if (const auto id = lookup(name); id && eos < 0) eos = *id;
    GRPO_CHECK(eos >= 0, source, ": no end-of-sequence token: no eos_token in a "
               "tokenizer_config.json beside it, and none of <|endoftext|>, <|end_of_text|>, "
               "</s>, <eos> is a token");
  }
  pad = roles.pad.empty() ? eos : require(roles.pad, "pad_token");
  bos = roles.bos.empty() ? -1 : require(roles.bos, "bos_token");
  eos_all = {eos};
  for (const int64_t id : roles.extra_eos_ids) {
    GRPO_CHECK(id >= 0 && id < static_cast<int64_t>(flags.size()) && (flags[id] & kHasToken),
               where, ": eos_token_id ", id, " is not a token of ", source);
    if (std::find(eos_all.begin(), eos_all.end(), id) == eos_all.end()) eos_all.push_back(id);
  }
}

// Splits `text` on the added tokens of `trie` as `tokenizers`' AddedVocabulary::find_matches
// does: leftmost-longest matches, scanning on after each; single_word tokens only between
// non-word characters; lstrip / rstrip take the whitespace beside the token into it. Token ids
// go to `out`, the text between them to on_text.
template <typename OnText>
void HfTokenizer::Impl::split_added(std::string_view text, const TokenTrie& trie,
                                    std::vector<int64_t>& out, OnText&& on_text) const {
  size_t offset = 0, pos = 0, start = 0, end = 0;
  int32_t index = 0;
  while (!trie.empty() && trie.find(text, pos, &start, &end, &index)) {
    pos = end;
    const AddedToken& tok = added[index];
    if (tok.single_word) {
      size_t unused = 0;
      const bool left_ok = start == 0 || !is_word_char(last_char(text, start, &unused));
      const bool right_ok = end == text.size() || !is_word_char(utf8_step(text, end).code_point);
      if (!left_ok || !right_ok) continue;
    }
    if (tok.lstrip) {
      size_t s = start;
      while (s > offset) {
        size_t prev = 0;
        if (!is_space_char(last_char(text, s, &prev))) break;
        s = prev;
      }
      start = s;
    }
    if (tok.rstrip) {
      while (end < text.size()) {
        const Utf8Step st = utf8_step(text, end);
        if (!is_space_char(st.code_point)) break;
        end += st.length;
      }
      pos = end;
    }
    if (start > offset) on_text(text.substr(offset, start - offset));
    out.push_back(tok.id);
    offset = end;
  }
  if (offset < text.size()) on_text(text.substr(offset));
}

void HfTokenizer::Impl::encode_normalized(std::string_view segment,
                                          std::vector<int64_t>& out) const {
  auto pre = [&](std::string_view piece) { pre_tokenize(piece, 0, out); };
  if (!nfc) {
    split_added(segment, normalized_trie, out, pre);
    return;
  }
  const std::string normalized = nfc_normalize(segment);
  split_added(normalized, normalized_trie, out, pre);
}

void HfTokenizer::Impl::pre_tokenize(std::string_view piece, size_t step,
                                     std::vector<int64_t>& out) const {
  if (step < splits.size()) {
    splits[step]->split(piece, [&](std::string_view p) { pre_tokenize(p, step + 1, out); });
    return;
  }
  // ByteLevel: a leading space for pieces without one (add_prefix_space), the GPT-2 split
  // (use_regex), then BPE on the bytes of each pre-token.
  std::string prefixed;
  if (add_prefix_space && piece[0] != ' ') {
    prefixed.reserve(piece.size() + 1);
    prefixed.push_back(' ');
    prefixed.append(piece);
    piece = prefixed;
  }
  if (byte_level_regex)
    byte_level_regex->split(piece, [&](std::string_view p) { bpe->encode(p, out); });
  else
    bpe->encode(piece, out);
}

// ---- public API ------------------------------------------------------------------------------

HfTokenizer::HfTokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HfTokenizer::~HfTokenizer() = default;

std::unique_ptr<HfTokenizer> HfTokenizer::from_json(std::string_view text,
                                                    const std::string& source,
                                                    const HfTokenRoles& roles) {
  json doc;
  try {
    doc = core::parse_json(text);  // bounded nesting (issue 18)
  } catch (const Error& e) {
    throw Error(source + ": " + e.what());
  }
  auto impl = std::make_unique<Impl>();
  impl->source = source;
  try {
    impl->parse(doc);
  } catch (const json::exception& e) {  // a type error that a field check did not catch
    throw Error(source + ": malformed tokenizer.json: " + e.what());
  }
  impl->resolve_roles(roles);
  return std::unique_ptr<HfTokenizer>(new HfTokenizer(std::move(impl)));
}

namespace {

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  GRPO_CHECK(in, path.string(), ": cannot open for reading");
  std::ostringstream ss;
  ss << in.rdbuf();
  GRPO_CHECK(!in.bad(), path.string(), ": read error");
  return ss.str();
}

// "eos_token": "<|endoftext|>" or {"content": "<|endoftext|>", ...} or null.
std::string role_name(const Fields& f, const json& cfg, const char* key) {
  const json* v = f.get(cfg, "", key, false);
  if (!v) return {};
  if (v->is_object()) return f.string(*v, key, "content");
  return f.string(*v, key);
}

json parse_file(const fs::path& path) {
  const std::string text = read_text(path);
  try {
    return core::parse_json(text);  // bounded nesting (issue 18)
  } catch (const Error& e) {
    throw Error(path.string() + ": " + e.what());
  }
}

}  // namespace

std::unique_ptr<HfTokenizer> HfTokenizer::load(const std::string& path) {
  std::error_code ec;
  fs::path file = path;
  if (fs::is_directory(file, ec)) file /= "tokenizer.json";
  GRPO_CHECK(fs::exists(file, ec), file.string(), ": no such file (a Hugging Face tokenizer.json)");
  const fs::path dir = file.parent_path();

  HfTokenRoles roles;
  const fs::path config_path = dir / "tokenizer_config.json";
  if (fs::exists(config_path, ec)) {
    const Fields f(config_path.string());
    const json cfg = parse_file(config_path);
    if (!cfg.is_object()) f.fail("(top level)", "expected an object, got " + describe(cfg));
    roles.eos = role_name(f, cfg, "eos_token");
    roles.pad = role_name(f, cfg, "pad_token");
    roles.bos = role_name(f, cfg, "bos_token");
    roles.source = config_path.string();
  }
  const fs::path gen_path = dir / "generation_config.json";
  if (fs::exists(gen_path, ec)) {
    const Fields f(gen_path.string());
    const json gen = parse_file(gen_path);
    if (const json* ids = gen.is_object() ? f.get(gen, "", "eos_token_id", false) : nullptr) {
      if (ids->is_array()) {
        for (size_t i = 0; i < ids->size(); ++i)
          roles.extra_eos_ids.push_back(f.token_id((*ids)[i], Fields::index("eos_token_id", i)));
      } else {
        roles.extra_eos_ids.push_back(f.token_id(*ids, "eos_token_id"));
      }
    }
  }
  return from_json(read_text(file), file.string(), roles);
}

std::vector<int64_t> HfTokenizer::encode(std::string_view text) const {
  size_t bad = 0;
  GRPO_CHECK(utf8_valid(text, &bad), impl_->source, ": encode: the text is not valid UTF-8 (byte ",
             bad, " of ", text.size(), ")");
  std::vector<int64_t> out;
  out.reserve(text.size() / 3 + 4);
  impl_->split_added(text, impl_->raw_trie, out,
                     [&](std::string_view segment) { impl_->encode_normalized(segment, out); });
  return out;
}

std::string_view HfTokenizer::token_bytes(int64_t id) const {
  if (id < 0 || id >= static_cast<int64_t>(impl_->bytes.size())) return {};
  return impl_->bytes[id];
}

bool HfTokenizer::is_special(int64_t id) const {
  return id >= 0 && id < static_cast<int64_t>(impl_->flags.size()) &&
         (impl_->flags[id] & Impl::kSpecial);
}

int64_t HfTokenizer::vocab_size() const { return static_cast<int64_t>(impl_->bytes.size()); }
int64_t HfTokenizer::eos_id() const { return impl_->eos; }
int64_t HfTokenizer::pad_id() const { return impl_->pad; }
int64_t HfTokenizer::bos_id() const { return impl_->bos; }
std::vector<int64_t> HfTokenizer::eos_ids() const { return impl_->eos_all; }

std::optional<int64_t> HfTokenizer::token_id(std::string_view token) const {
  const std::string key(token);
  const auto a = impl_->added_by_content.find(key);
  if (a != impl_->added_by_content.end()) return a->second;
  const auto v = impl_->bpe->vocab().find(key);
  if (v != impl_->bpe->vocab().end()) return v->second;
  return std::nullopt;
}

}  // namespace grpo::text
