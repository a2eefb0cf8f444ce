// Short printable excerpts of untrusted completion text, for the reasons rules give.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace grpo::reward {

// At most `max_bytes` bytes of `text` (never splitting a UTF-8 sequence) followed by "..."
// when cut; control bytes and invalid UTF-8 become '?', so the result is valid UTF-8 and one
// line.
std::string excerpt(std::string_view text, size_t max_bytes = 24);

// Length in bytes of the valid UTF-8 sequence at text[i], or 0 when it is invalid (overlong,
// surrogate, beyond U+10FFFF, truncated).
size_t utf8_sequence_length(std::string_view text, size_t i);

}  // namespace grpo::reward
