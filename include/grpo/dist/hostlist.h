// Slurm hostlists ("node[01-04,07],gpu5", "rack[1-2]-n[1-3]"), as in SLURM_NODELIST.
//
// Grammar (Slurm's, see `scontrol show hostnames`): a comma-separated list of host patterns;
// a pattern is text with any number of bracket groups; a group holds comma-separated numbers
// or ranges lo-hi. Numbers keep the zero padding of the range's lower bound ("[08-10]" gives
// 08, 09, 10). Several groups expand left to right, the rightmost varying fastest.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace grpo::dist {

// Every host of `list`, in Slurm's order. Throws UsageError naming `what` (the variable, e.g.
// "SLURM_NODELIST") and the offending position on a malformed list, an empty one, or one that
// expands to more than `max_hosts` names.
std::vector<std::string> expand_hostlist(const std::string& list,
                                         const std::string& what = "hostlist",
                                         int64_t max_hosts = 1 << 20);

// The first host of `list` (where Slurm starts task 0), validating the whole list but
// expanding nothing else.
std::string first_host(const std::string& list, const std::string& what = "hostlist");

}  // namespace grpo::dist
