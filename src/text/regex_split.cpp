// SplitRegex on PCRE2 (8-bit, UTF + UCP), with a per-thread JIT stack and match data.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "regex_split.h"

#include <pcre2.h>

#include "grpo/core/error.h"

namespace grpo::text::detail {

namespace {

std::string pcre2_message(int code) {
  PCRE2_UCHAR buf[256];
  const int n = pcre2_get_error_message(code, buf, sizeof(buf));
  return n < 0 ? "PCRE2 error " + std::to_string(code) : std::string(reinterpret_cast<char*>(buf));
}

// Per-thread matching state: match data for the whole-match offsets (the patterns' groups are
// not needed: a too-small ovector still reports the whole match) and a JIT stack larger than
// PCRE2's 32 KiB default, so backtracking over long whitespace runs cannot run out of it.
struct ThreadState {
  pcre2_match_data* data = pcre2_match_data_create(1, nullptr);
  pcre2_jit_stack* stack = pcre2_jit_stack_create(32 * 1024, 4 * 1024 * 1024, nullptr);
  pcre2_match_context* context = pcre2_match_context_create(nullptr);
  ThreadState() {
    GRPO_CHECK(data && stack && context, "out of memory creating PCRE2 match state");
    pcre2_jit_stack_assign(context, nullptr, stack);
  }
  ~ThreadState() {
    pcre2_match_context_free(context);
    pcre2_jit_stack_free(stack);
    pcre2_match_data_free(data);
  }
};

ThreadState& thread_state() {
  thread_local ThreadState state;
  return state;
}

}  // namespace

SplitRegex::SplitRegex(const std::string& pattern, bool literal, const std::string& what)
    : code_(nullptr), what_(what) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  const uint32_t options = PCRE2_UTF | PCRE2_UCP | (literal ? PCRE2_LITERAL : 0);
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   options, &error, &offset, nullptr);
  if (!code)
    throw Error(what + ": cannot compile the split pattern '" + pattern + "' at offset " +
                std::to_string(offset) + ": " + pcre2_message(error));
  // JIT is an optimisation: where it is unavailable the interpreter gives the same matches.
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  code_ = code;
}

SplitRegex::~SplitRegex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

void SplitRegex::split(std::string_view text,
                       const std::function<void(std::string_view)>& piece) const {
  auto* code = static_cast<pcre2_code*>(code_);
  ThreadState& st = thread_state();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t gap_start = 0, pos = 0;
  while (pos < text.size()) {
    // The caller has validated the UTF-8 once for the whole text.
    const int rc = pcre2_match(code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, st.data,
                               st.context);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0)
      throw Error(what_ + ": matching the split pattern failed on a " +
                  std::to_string(text.size()) + "-byte piece: " + pcre2_message(rc));
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(st.data);
    const size_t start = ov[0], end = ov[1];
    if (end == start) {  // empty match: no piece; move on by one character
      pos = start + 1;
      while (pos < text.size() && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80) ++pos;
      continue;
    }
    if (start > gap_start) piece(text.substr(gap_start, start - gap_start));
    piece(text.substr(start, end - start));
    gap_start = pos = end;
  }
  if (gap_start < text.size()) piece(text.substr(gap_start));
}

}  // namespace grpo::text::detail
