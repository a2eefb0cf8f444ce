// UTF-8 scanning with maximal-subpart replacement (see utf8.h).
#include "grpo/text/utf8.h"

#include "grpo/core/error.h"

namespace grpo::text {

namespace {

// Allowed range of the second byte for a lead byte (Unicode 15 Table 3-7): the narrower ranges
// after E0, ED, F0 and F4 exclude overlong forms, surrogates and code points past U+10FFFF.
struct Lead {
  int length;            // 0: not a lead byte
  unsigned char lo, hi;  // range of the second byte
};

Lead lead_of(unsigned char b) {
  if (b < 0x80) return {1, 0, 0};
  if (b < 0xC2) return {0, 0, 0};
  if (b < 0xE0) return {2, 0x80, 0xBF};
  if (b == 0xE0) return {3, 0xA0, 0xBF};
  if (b == 0xED) return {3, 0x80, 0x9F};
  if (b < 0xF0) return {3, 0x80, 0xBF};
  if (b == 0xF0) return {4, 0x90, 0xBF};
  if (b < 0xF4) return {4, 0x80, 0xBF};
  if (b == 0xF4) return {4, 0x80, 0x8F};
  return {0, 0, 0};
}

}  // namespace

Utf8Step utf8_step(std::string_view bytes, size_t pos) {
  GRPO_ASSERT(pos < bytes.size(), "utf8_step past the end");
  const auto b0 = static_cast<unsigned char>(bytes[pos]);
  const Lead lead = lead_of(b0);
  if (lead.length == 1) return {Utf8Status::kValid, 1, b0};
  if (lead.length == 0) return {Utf8Status::kInvalid, 1, 0};
  char32_t cp = b0 & (lead.length == 2 ? 0x1F : lead.length == 3 ? 0x0F : 0x07);
  for (int k = 1; k < lead.length; ++k) {
    if (pos + k >= bytes.size()) return {Utf8Status::kTruncated, static_cast<size_t>(k), 0};
    const auto b = static_cast<unsigned char>(bytes[pos + k]);
    const unsigned char lo = k == 1 ? lead.lo : 0x80, hi = k == 1 ? lead.hi : 0xBF;
    if (b < lo || b > hi) return {Utf8Status::kInvalid, static_cast<size_t>(k), 0};
    cp = (cp << 6) | (b & 0x3F);
  }
  return {Utf8Status::kValid, static_cast<size_t>(lead.length), cp};
}

bool utf8_valid(std::string_view bytes, size_t* error_offset) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    if (static_cast<unsigned char>(bytes[pos]) < 0x80) {  // ASCII fast path
      ++pos;
      continue;
    }
    const Utf8Step s = utf8_step(bytes, pos);
    if (s.status != Utf8Status::kValid) {
      if (error_offset) *error_offset = pos;
      return false;
    }
    pos += s.length;
  }
  return true;
}

std::string utf8_lossy(std::string_view bytes) {
  size_t bad = 0;
  if (utf8_valid(bytes, &bad)) return std::string(bytes);
  std::string out(bytes.substr(0, bad));
  size_t pos = bad;
  while (pos < bytes.size()) {
    const Utf8Step s = utf8_step(bytes, pos);
    if (s.status == Utf8Status::kValid)
      out.append(bytes.substr(pos, s.length));
    else
      out.append(kReplacementChar);
    pos += s.length;
  }
  return out;
}

size_t utf8_complete_prefix(std::string_view bytes) {
  // A truncated sequence is at most 3 bytes long and starts with a lead byte. Every lead byte
  // starts a sequence (a lead byte is never a valid continuation), so scanning from 3 bytes
  // before the end, even from inside an earlier sequence, finds the same last sequence.
  const size_t start = bytes.size() > 3 ? bytes.size() - 3 : 0;
  size_t pos = start;
  while (pos < bytes.size()) {
    const Utf8Step s = utf8_step(bytes, pos);
    if (s.status == Utf8Status::kTruncated) return pos;
    pos += s.length;
  }
  return bytes.size();
}

void utf8_append(std::string& out, char32_t cp) {
  GRPO_ASSERT(cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF), "bad code point ", cp);
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace grpo::text
