#!/usr/bin/env python3
"""Golden files for the byte-level BPE tokenizer (grpo::text::HfTokenizer).

Builds two small byte-level BPE tokenizers with the Hugging Face `tokenizers` library (nothing is
downloaded: both are trained here on a corpus written below) and records what that library
returns for a set of tricky strings, so tests/text/hf_tokenizer_test.cpp can check the C++
tokenizer id for id against the real implementation:

  qwen2_style/  NFC normalizer, Split on the Qwen2 pre-tokenizer regex (lookahead, \\p{L}, \\p{N},
                case-insensitive contractions) then ByteLevel without regex, as in Qwen2/Qwen3's
                tokenizer.json; special tokens <|endoftext|> <|im_start|> <|im_end|>, non-special
                added tokens <think> </think> (as in Qwen3), <mask> (lstrip) and [W] (single_word).
  gpt2_style/   no normalizer, ByteLevel pre-tokenizer with the GPT-2 regex and add_prefix_space.
  deepseek_style/  qwen2_style plus the added tokens of DeepSeek-R1's distilled Qwen models, whose
                special tokens are spelled with characters outside the byte-level alphabet
                (<｜begin▁of▁sentence｜>, <｜User｜>), with bos/eos set to them; and added tokens
                that the ByteLevel decoder reads differently ("héé x" keeps its own UTF-8, "Ġz"
                decodes to " z", special "<ñ>" decodes to "<" 0xF1 ">", i.e. "<U+FFFD>"), and a normalized
                added token written decomposed ("cafe\u0301!"), matched in NFC text.

Each directory is written by transformers' save_pretrained (tokenizer.json, tokenizer_config.json
with eos/pad tokens, special_tokens_map.json). cases.json holds, for each string, the ids of
`encode(s, add_special_tokens=False)` for both tokenizers, for qwen2_style with
model.ignore_merges=true and half the merges (Llama-3 style), and what decode() gives back; plus decode-only cases
(token sequences cut inside a multi-byte character, special tokens skipped or kept).

Run: ~/.cache/grpo/venv/bin/python scripts/ref/make_tokenizer_golden.py [OUT_DIR]
     (default OUT_DIR: tests/golden/tokenizer_bpe)
"""
import json
import os
import sys

import tokenizers
import transformers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
from tokenizers import pre_tokenizers, trainers

# Qwen2's pre-tokenizer split pattern, as written in Qwen2/Qwen2.5/Qwen3 tokenizer.json.
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
                 r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

R1_ZERO = ("A conversation between User and Assistant. The user asks a question, and the "
           "Assistant solves it. The assistant first thinks about the reasoning process in the "
           "mind and then provides the user with the answer. The reasoning process and answer "
           "are enclosed within <think> </think> and <answer> </answer> tags, respectively, "
           "i.e., <think> reasoning process here </think> <answer> answer here </answer>. "
           "User: Using the numbers [19, 36, 55, 7], create an equation that equals 65. "
           "Assistant: <think>")

CORPUS = [
    "The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs away.",
    "It's a truth universally acknowledged that they're going to ask what we've done.",
    "I'm sure you'll agree: she'd rather read than write, and he's fine with that.",
    "Reinforcement learning from verifiable rewards trains a policy with group baselines.",
    "The reasoning process and answer are enclosed within tags, respectively.",
    "A conversation between User and Assistant. The user asks a question.",
    "def add(a, b):\n    return a + b\n\nfor i in range(10):\n    print(add(i, i * 2))\n",
    "if (x != y && z >= 0) { y = x * 2; } else { y -= 1; }  // comment\n",
    "Numbers: 0 1 2 3 4 5 6 7 8 9 10 42 100 2024 3.14159 -17 1e-6 65536",
    "café naïve résumé façade Ångström über straße coöperate",
    "日本語のテキストです。中文测试文本。한국어 텍스트입니다.",
    "Emoji: 😀 😃 😄 👍 👍🏽 🎉 🚀 ❤️ 👨‍👩‍👧",
    "Math: ∑ ∫ √ π ≤ ≥ ≠ → × ÷ ∞ α β γ δ",
    "Русский текст, Ελληνικά, עברית, العربية, हिन्दी",
    "  indented line\n\tTabbed line\n\n\nblank lines above\r\nwindows line\n",
    "aaaa aaaaaaa abababab aaaaaaaaaaaaaaaa ababa",
    "Hello world! Hello, World. HELLO WORLD? hello-world hello_world helloWorld",
] + [f"{a} + {b} = {a + b}, {a} * {b} = {a * b}" for a in range(3, 60, 7) for b in range(2, 40, 9)] + [
    f"The {adj} {noun} {verb} the {noun2} while the user {verb2} a question about {noun}s."
    for adj in ("small", "large", "quick", "careful", "random")
    for noun in ("model", "reward", "token", "answer", "number")
    for verb, noun2, verb2 in (("predicts", "equation", "asks"), ("checks", "format", "solves"),
                               ("writes", "reasoning", "thinks"))]

CASES = [
    "",
    "Hello world",
    "hello",
    " ",
    "   leading spaces",
    "trailing spaces   ",
    "tabs\tand\t\ttabs",
    "multiple\n\n\nnewlines\r\n crlf\r\n\r\n",
    "   \n  \n\t \n",
    "1234567890 3.14159 -42 1e10 0x1F 2024-01-31",
    "don't I'LL we've THEY'RE it's You'D",
    "héllo wörld naïve café",
    "cafe\u0301 A\u030angstro\u0308m",  # decomposed: NFC composes them (qwen2_style)
    "日本語のテキスト 中文测试 한국어",
    "😀👍🏽 👨\u200d👩\u200d👧 🇺🇸 ❤️",
    "∑∫√π ≤ ≥ ≠ → ×÷",
    "\u00a0nbsp\u2003em\u3000ideographic\u2028sep",
    "a\u180e b\u180e\u0085c\u200b d \ufeff",  # spaces that are not all White_Space
    "مرحبا بالعالم שלום नमस्ते",
    "def f(x):\n    return x**2  # square\n",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "text<|endoftext|>more",
    "<|endoftext|><|endoftext|>",
    "<|im_start without end <|im_end",
    "<think> 19 + 36 = 55 </think> <answer> (55 - 36) * 7 </answer>",
    "x  <mask>  y<mask>z",
    "a[W]b [W] c",
    "a" * 67,
    " " * 40 + "x",
    "\x00\x01\x1f\x7f control",
    R1_ZERO,
    "<｜begin▁of▁sentence｜><｜User｜>What is 2+2?<｜Assistant｜><think>\n4</think><｜end▁of▁sentence｜>",
    "aa héé x bb héé xx aa\u0120z \u0120z q<ñ>r <ñ<ñ>>",
    "x cafe\u0301! y caf\u00e9! cafe\u0301",
]


def build_qwen2_style():
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1500, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    tok.train_from_iterator(CORPUS * 3, trainer)
    tok.add_tokens([AddedToken("<think>", special=False, normalized=False),
                    AddedToken("</think>", special=False, normalized=False),
                    AddedToken("<mask>", special=False, normalized=False, lstrip=True),
                    AddedToken("[W]", special=False, normalized=True, single_word=True)])
    return tok


DEEPSEEK_SPECIAL = ["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>",
                    "<｜Assistant｜>", "<ñ>"]


def build_deepseek_style():
    tok = build_qwen2_style()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in DEEPSEEK_SPECIAL])
    tok.add_tokens([AddedToken("héé x", special=False, normalized=False),
                    AddedToken("\u0120z", special=False, normalized=False),  # "Ġz"
                    # normalized, written decomposed: matched by its NFC form, "café!"
                    AddedToken("cafe\u0301!", special=False, normalized=True)])
    return tok


def build_gpt2_style():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=800, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=["<|endoftext|>"])
    tok.train_from_iterator(CORPUS * 3, trainer)
    return tok


def save(tok, out_dir, **special):
    os.makedirs(out_dir, exist_ok=True)
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, **special)
    fast.save_pretrained(out_dir)
    # The expected ids come from the file as saved (transformers may rewrite parts of it, such
    # as ByteLevel's add_prefix_space), so that they describe exactly what the C++ test loads.
    return fast, Tokenizer.from_file(os.path.join(out_dir, "tokenizer.json"))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(__file__), "..", "..", "tests", "golden", "tokenizer_bpe")
    qwen_fast, qwen = save(build_qwen2_style(), os.path.join(out, "qwen2_style"),
                           eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    gpt2_fast, gpt2 = save(build_gpt2_style(), os.path.join(out, "gpt2_style"),
                           eos_token="<|endoftext|>", bos_token="<|endoftext|>",
                           add_prefix_space=True)
    assert json.loads(gpt2.to_str())["pre_tokenizer"]["add_prefix_space"]
    deepseek_fast, deepseek = save(build_deepseek_style(), os.path.join(out, "deepseek_style"),
                                   bos_token=DEEPSEEK_SPECIAL[0], eos_token=DEEPSEEK_SPECIAL[1])

    # The Llama-3 variant: same file with model.ignore_merges = true, where a pre-token found in
    # the vocabulary is one token whatever the merges say. With all merges kept, every vocabulary
    # entry of a trained tokenizer is reachable by merging and ignore_merges changes nothing, so
    # the variant keeps only the first merges: words whose late merges are gone still come out
    # whole through ignore_merges (and split without it).
    doc = json.loads(qwen.to_str())
    doc["model"]["ignore_merges"] = True
    merges_kept = len(doc["model"]["merges"]) // 2
    doc["model"]["merges"] = doc["model"]["merges"][:merges_kept]
    qwen_im = Tokenizer.from_str(json.dumps(doc))

    cases = []
    for s in CASES:
        entry = {"text": s}
        for name, tok in (("qwen2_style", qwen), ("gpt2_style", gpt2),
                          ("qwen2_style_ignore_merges", qwen_im), ("deepseek_style", deepseek)):
            ids = tok.encode(s, add_special_tokens=False).ids
            entry[name] = {"ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False)}
        cases.append(entry)

    # Decode-only cases: the prefix of each multi-byte string's ids, cut one token at a time,
    # so some prefixes end inside a UTF-8 character; special tokens kept and skipped.
    decode_cases = []
    for s in ["😀👍🏽 日本", "<|im_start|>héllo<|im_end|>", "∑x<|endoftext|>"]:
        ids = qwen.encode(s, add_special_tokens=False).ids
        for n in range(1, len(ids) + 1):
            decode_cases.append({
                "ids": ids[:n],
                "keep_special": qwen.decode(ids[:n], skip_special_tokens=False),
                "skip_special": qwen.decode(ids[:n], skip_special_tokens=True),
            })
    # Lone bytes that are not UTF-8 on their own: each id is one byte-level symbol.
    byte_ids = [qwen.token_to_id(c) for c in ["\u00f0", "\u0141", "\u00e6", "a", "\u00c3"]]
    decode_cases.append({"ids": byte_ids,
                         "keep_special": qwen.decode(byte_ids, skip_special_tokens=False),
                         "skip_special": qwen.decode(byte_ids, skip_special_tokens=True)})

    # DeepSeek-style specials: decoded by the ByteLevel decoder as their own UTF-8 (characters
    # outside the alphabet) or through the alphabet ("<ñ>" -> "<" 0xF1 ">", invalid UTF-8).
    deepseek_decode_cases = []
    for s in ["<｜begin▁of▁sentence｜><｜User｜>héé x<ñ>Ġz", "😀<ñ>😀"]:
        ids = deepseek.encode(s, add_special_tokens=False).ids
        for n in range(1, len(ids) + 1):
            deepseek_decode_cases.append({
                "ids": ids[:n],
                "keep_special": deepseek.decode(ids[:n], skip_special_tokens=False),
                "skip_special": deepseek.decode(ids[:n], skip_special_tokens=True),
            })

    meta = {
        "generator": "scripts/ref/make_tokenizer_golden.py",
        "tokenizers_version": tokenizers.__version__,
        "transformers_version": transformers.__version__,
        "qwen2_style": {"vocab_size": qwen.get_vocab_size(with_added_tokens=True),
                        "eos_id": qwen_fast.eos_token_id, "pad_id": qwen_fast.pad_token_id,
                        "bos_id": qwen_fast.bos_token_id},
        "qwen2_style_ignore_merges": {"merges_kept": merges_kept},
        "gpt2_style": {"vocab_size": gpt2.get_vocab_size(with_added_tokens=True),
                       "eos_id": gpt2_fast.eos_token_id, "pad_id": gpt2_fast.pad_token_id,
                       "bos_id": gpt2_fast.bos_token_id},
        "deepseek_style": {"vocab_size": deepseek.get_vocab_size(with_added_tokens=True),
                           "eos_id": deepseek_fast.eos_token_id,
                           "pad_id": deepseek_fast.pad_token_id,
                           "bos_id": deepseek_fast.bos_token_id},
    }
    with open(os.path.join(out, "cases.json"), "w", encoding="utf-8") as f:
        json.dump({"meta": meta, "cases": cases, "decode_cases": decode_cases,
                   "deepseek_decode_cases": deepseek_decode_cases}, f,
                  ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {out}: {len(cases)} encode cases, "
          f"{len(decode_cases) + len(deepseek_decode_cases)} decode cases")


if __name__ == "__main__":
    main()
