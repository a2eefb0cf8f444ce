// Helpers shared by the tests: running the grpo binary, temporary directories, files.
#pragma once

#include <exception>
#include <functional>
#include <string>
#include <vector>

namespace grpo::testing {

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs `grpo <args>` (the binary built beside the tests) with optional stdin text.
CommandResult run_grpo(const std::vector<std::string>& args, const std::string& stdin_text = "");

// Runs a shell command line, capturing stdout and stderr.
CommandResult run_shell(const std::string& command, const std::string& stdin_text = "");

// A fresh, empty directory under the build tree, unique per test; removed by the next call
// with the same name.
std::string fresh_dir(const std::string& name);

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& text);

// The message of the exception of type E (by default any std::exception) that `f` throws, or
// "" when it throws none; an exception of another type propagates and fails the test.
template <typename E = std::exception>
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "";
}

// The tests' tiny MoE, defined here once: 2 layers (the first dense, then MoE with 4 experts
// top-2 and a shared expert), hidden 32, 2 query heads and 1 key/value head of dim 16, FFN 48,
// expert FFN 16, 256 positions; the other model keys keep their defaults. As `model.k=v`
// overrides for the binary, and as the entries of a YAML flow mapping ("hidden_size: 32, ...").
std::vector<std::string> tiny_model_overrides();
std::string tiny_model_yaml();

// Path of a file in the source tree (configs/..., tests/golden/...).
std::string source_path(const std::string& relative);

// Paths of this build: tests/CMakeLists.txt defines them on test_util.cpp alone, so the other
// test files compile to the same command line in every checkout and a fresh clone hits ccache.
const std::string& source_dir();          // the source tree
const std::string& grpo_binary();         // the grpo binary under test
const std::string& dist_worker_binary();  // one rank of the multi-process tests
const std::string& torchrun_path();       // torchrun of the virtual environment
const std::string& test_tmp_dir();        // scratch space under the build tree
const std::string& c10d_objects();        // the c10d object files, separated by spaces

}  // namespace grpo::testing
