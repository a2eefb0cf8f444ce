// Slurm hostlist expansion (see dist/hostlist.h).
#include "grpo/dist/hostlist.h"

#include <cctype>
#include <cstdio>

#include "grpo/core/error.h"

namespace grpo::dist {
namespace {

struct Range {
  uint64_t lo = 0, hi = 0;
  size_t width = 0;  // digits of the lower bound as written: "08" pads to 2
};

// Literal text, or (when ranges is non-empty) one bracket group.
struct Part {
  std::string text;
  std::vector<Range> ranges;
  uint64_t count() const {
    if (ranges.empty()) return 1;
    uint64_t n = 0;
    for (const Range& r : ranges) n += r.hi - r.lo + 1;
    return n;
  }
};
using Pattern = std::vector<Part>;

[[noreturn]] void fail(const std::string& what, const std::string& list, size_t pos,
                       const std::string& why) {
  throw UsageError(what + "='" + list + "': " + why + " at character " + std::to_string(pos + 1) +
                   " (expected a Slurm hostlist such as 'node[01-04,07],gpu5')");
}

uint64_t parse_number(const std::string& what, const std::string& list, size_t begin,
                      size_t end) {
  if (begin == end) fail(what, list, begin, "empty number in brackets");
  if (end - begin > 18) fail(what, list, begin, "number too long");
  uint64_t v = 0;
  for (size_t i = begin; i < end; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(list[i])))
      fail(what, list, i, std::string("unexpected '") + list[i] + "' in brackets");
    v = v * 10 + static_cast<uint64_t>(list[i] - '0');
  }
  return v;
}

// Parses "a-b,c" between list[begin] and list[end] (the brackets excluded).
std::vector<Range> parse_group(const std::string& what, const std::string& list, size_t begin,
                               size_t end) {
  std::vector<Range> ranges;
  size_t item = begin;
  for (size_t i = begin; i <= end; ++i) {
    if (i < end && list[i] != ',') continue;
    const size_t dash = list.find('-', item);
    Range r;
    if (dash != std::string::npos && dash < i) {
      r.lo = parse_number(what, list, item, dash);
      r.hi = parse_number(what, list, dash + 1, i);
      if (r.hi < r.lo) fail(what, list, item, "range goes backwards");
    } else {
      r.lo = r.hi = parse_number(what, list, item, i);
    }
    r.width = (dash != std::string::npos && dash < i ? dash : i) - item;
    ranges.push_back(r);
    item = i + 1;
  }
  return ranges;
}

std::vector<Pattern> parse(const std::string& list, const std::string& what) {
  std::vector<Pattern> patterns;
  Pattern current;
  std::string text;
  auto finish_pattern = [&](size_t pos) {
    if (!text.empty()) current.push_back(Part{text, {}});
    text.clear();
    if (current.empty()) fail(what, list, pos, "empty host name");
    patterns.push_back(std::move(current));
    current.clear();
  };
  for (size_t i = 0; i < list.size(); ++i) {
    const char c = list[i];
    if (c == ',') {
      finish_pattern(i);
    } else if (c == '[') {
      const size_t close = list.find_first_of("[]", i + 1);
      if (close == std::string::npos || list[close] != ']')
        fail(what, list, i, close == std::string::npos ? "unclosed '['" : "nested '['");
      if (!text.empty()) current.push_back(Part{text, {}});
      text.clear();
      current.push_back(Part{"", parse_group(what, list, i + 1, close)});
      i = close;
    } else if (c == ']') {
      fail(what, list, i, "']' without '['");
    } else if (std::isspace(static_cast<unsigned char>(c)) || !std::isprint(static_cast<unsigned char>(c))) {
      fail(what, list, i, "unexpected blank or control character");
    } else {
      text += c;
    }
  }
  finish_pattern(list.size());
  return patterns;
}

std::string format_number(uint64_t v, size_t width) {
  std::string s = std::to_string(v);
  if (s.size() < width) s.insert(0, width - s.size(), '0');
  return s;
}

// The index-th value of a bracket group.
std::string group_value(const Part& p, uint64_t index) {
  for (const Range& r : p.ranges) {
    const uint64_t n = r.hi - r.lo + 1;
    if (index < n) return format_number(r.lo + index, r.width);
    index -= n;
  }
  GRPO_ASSERT(false, "hostlist group index out of range");
}

}  // namespace

std::vector<std::string> expand_hostlist(const std::string& list, const std::string& what,
                                         int64_t max_hosts) {
  if (list.empty()) throw UsageError(what + " is empty (expected a Slurm hostlist such as "
                                            "'node[01-04,07],gpu5')");
  const std::vector<Pattern> patterns = parse(list, what);
  uint64_t total = 0;
  for (const Pattern& p : patterns) {
    uint64_t n = 1;
    for (const Part& part : p) {
      n *= part.count();
      if (n > static_cast<uint64_t>(max_hosts)) break;
    }
    total += n;
    if (total > static_cast<uint64_t>(max_hosts))
      throw UsageError(what + "='" + list + "' names more than " + std::to_string(max_hosts) +
                       " hosts");
  }
  std::vector<std::string> hosts;
  hosts.reserve(total);
  for (const Pattern& p : patterns) {
    std::vector<uint64_t> index(p.size(), 0);  // an odometer over the parts, rightmost fastest
    for (bool done = false; !done;) {
      std::string name;
      for (size_t k = 0; k < p.size(); ++k)
        name += p[k].ranges.empty() ? p[k].text : group_value(p[k], index[k]);
      hosts.push_back(std::move(name));
      done = true;
      for (size_t k = p.size(); k-- > 0;) {
        if (++index[k] < p[k].count()) {
          done = false;
          break;
        }
        index[k] = 0;
      }
    }
  }
  return hosts;
}

std::string first_host(const std::string& list, const std::string& what) {
  if (list.empty()) throw UsageError(what + " is empty (expected a Slurm hostlist such as "
                                            "'node[01-04,07],gpu5')");
  const std::vector<Pattern> patterns = parse(list, what);
  std::string name;
  for (const Part& part : patterns.front())
    name += part.ranges.empty() ? part.text : group_value(part, 0);
  return name;
}

}  // namespace grpo::dist
