// Helpers shared by the tests (see test_util.h).
#include "common/test_util.h"

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <gtest/gtest.h>

#include "grpo/core/numerics.h"

namespace grpo::testing {
namespace fs = std::filesystem;

// The test binary computes as the grpo binary does (core/numerics.h), set before main() and
// so before the first BLAS call.
const bool kReproducibleBlas = (core::use_reproducible_blas(), true);

namespace {
std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

std::string unique_tmp(const std::string& tag) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = info ? std::string(info->test_suite_name()) + "." + info->name() : "global";
  for (char& c : name)
    if (c == '/') c = '_';
  const fs::path dir = fs::path(test_tmp_dir()) / "io" / name;
  fs::create_directories(dir);
  return (dir / tag).string();
}
}  // namespace

CommandResult run_shell(const std::string& command, const std::string& stdin_text) {
  const std::string in = unique_tmp("stdin"), out = unique_tmp("stdout"), err = unique_tmp("stderr");
  write_file(in, stdin_text);
  const std::string full = command + " <" + shell_quote(in) + " >" + shell_quote(out) + " 2>" +
                           shell_quote(err);
  const int status = std::system(full.c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_file(out);
  r.err = read_file(err);
  return r;
}

CommandResult run_grpo(const std::vector<std::string>& args, const std::string& stdin_text) {
  std::string cmd = shell_quote(grpo_binary());
  for (const auto& a : args) cmd += " " + shell_quote(a);
  return run_shell(cmd, stdin_text);
}

std::string fresh_dir(const std::string& name) {
  const fs::path dir = fs::path(test_tmp_dir()) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("test: cannot read " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("test: cannot write " + path);
  f << text;
}

std::string source_path(const std::string& relative) {
  return (fs::path(source_dir()) / relative).string();
}

namespace {
const std::vector<std::pair<std::string, std::string>> kTinyModel = {
    {"hidden_size", "32"},      {"num_layers", "2"},          {"num_heads", "2"},
    {"num_kv_heads", "1"},      {"head_dim", "16"},           {"intermediate_size", "48"},
    {"num_experts", "4"},       {"num_experts_per_tok", "2"}, {"moe_intermediate_size", "16"},
    {"num_shared_experts", "1"}, {"first_k_dense", "1"},      {"max_position_embeddings", "256"}};
}  // namespace

std::vector<std::string> tiny_model_overrides() {
  std::vector<std::string> v;
  for (const auto& [k, val] : kTinyModel) v.push_back("model." + k + "=" + val);
  return v;
}

std::string tiny_model_yaml() {
  std::string s;
  for (const auto& [k, val] : kTinyModel) s += (s.empty() ? "" : ", ") + k + ": " + val;
  return s;
}

// One line each (clang-format off: they are alike on purpose).
// clang-format off
const std::string& source_dir() { static const std::string s = GRPO_SOURCE_DIR; return s; }
const std::string& grpo_binary() { static const std::string s = GRPO_BINARY; return s; }
const std::string& dist_worker_binary() { static const std::string s = GRPO_DIST_WORKER; return s; }
const std::string& torchrun_path() { static const std::string s = GRPO_TORCHRUN; return s; }
const std::string& test_tmp_dir() { static const std::string s = GRPO_TEST_TMP; return s; }
const std::string& c10d_objects() { static const std::string s = GRPO_C10D_OBJECTS; return s; }
// clang-format on

}  // namespace grpo::testing
