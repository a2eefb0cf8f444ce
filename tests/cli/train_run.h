// Helpers of the `grpo train` CLI tests (train_cmd_test.cpp, resume_test.cpp): a tiny run's
// overrides, JSONL reading, and starting the binary in the background to signal it.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "common/test_util.h"

namespace grpo::testing {

// `grpo train configs/r1zero_tiny.yaml` shrunk to about a second: a random-init 2-layer MoE
// (hidden 32, 4 experts top-2), 2 prompts x 4 samples of at most 12 tokens per step, one
// thread (bit-exact reruns), a checkpoint every step, eval of 3 problems every 2 steps.
// A random policy never earns the format or countdown reward, so a length penalty and many
// one-character stop strings make rewards differ within groups: advantages are non-zero and
// every step really moves the policy (lr 1e-2).
inline std::vector<std::string> tiny_train_args(const std::string& out_dir, int64_t steps,
                                                 const std::vector<std::string>& extra = {}) {
  std::vector<std::string> a = {"train", source_path("configs/r1zero_tiny.yaml"), "model.path="};
  const std::vector<std::string> model = tiny_model_overrides();
  a.insert(a.end(), model.begin(), model.end());
  const std::vector<std::string> rest = {
      "run.threads=1", "run.output_dir=" + out_dir,
      "run.name=r", "run.seed=3", "trainer.total_steps=" + std::to_string(steps),
      "trainer.prompts_per_step=2", "rollout.group_size=4", "rollout.max_new_tokens=12",
      "data.eval_size=3", "trainer.eval_k=2", "trainer.eval_every=2", "trainer.save_every=1",
      "trainer.keep_last=10", "optim.warmup_steps=2", "optim.lr=0.01", "algo.kl_coef=0.01",
      "rollout.stop=[a, e, i, o, u, '1', '2', '3', '4', '5', ' ', '+', '*', '(', ')']",
      "reward.rules=[{name: format}, {name: answer_match}, {name: length, max_len: 12, buffer: 12}]"};
  a.insert(a.end(), rest.begin(), rest.end());
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

// The JSON objects of JSONL text, one per line; every line must end with a newline.
inline std::vector<nlohmann::json> read_jsonl_text(const std::string& text,
                                                   const std::string& name = "output") {
  std::vector<nlohmann::json> v;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t eol = text.find('\n', pos);
    EXPECT_NE(eol, std::string::npos) << name << ": last line not terminated";
    if (eol == std::string::npos) break;
    v.push_back(nlohmann::json::parse(text.substr(pos, eol - pos)));
    pos = eol + 1;
  }
  return v;
}

inline std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  return read_jsonl_text(read_file(path), path);
}

// The metrics without wall-clock values (time/*, tokens/s): what must match across resumes.
inline std::vector<nlohmann::json> without_timing(std::vector<nlohmann::json> lines) {
  for (auto& l : lines) {
    for (auto it = l.begin(); it != l.end();) {
      if (it.key().rfind("time/", 0) == 0 || it.key() == "tokens/s")
        it = l.erase(it);
      else
        ++it;
    }
  }
  return lines;
}

// `grpo <args>` running in the background, stdout/stderr into files beside `log_prefix`.
class Background {
 public:
  Background(const std::vector<std::string>& args, const std::string& log_prefix)
      : err_path_(log_prefix + ".stderr") {
    pid_ = fork();
    if (pid_ == 0) {
      const std::string out = log_prefix + ".stdout";
      if (!freopen(out.c_str(), "w", stdout) || !freopen(err_path_.c_str(), "w", stderr)) _exit(126);
      std::vector<char*> argv;
      std::string bin = grpo_binary();
      argv.push_back(bin.data());
      std::vector<std::string> copy = args;
      for (auto& s : copy) argv.push_back(s.data());
      argv.push_back(nullptr);
      execv(bin.c_str(), argv.data());
      _exit(127);
    }
  }
  ~Background() {
    if (pid_ > 0 && !waited_) {
      kill(pid_, SIGKILL);
      wait();
    }
  }
  // Waits until `path` exists (true) or the process ends or `seconds` pass (false).
  bool wait_for_file(const std::string& path, double seconds = 120) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) {
      if (std::filesystem::exists(path)) return true;
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        waited_ = true;
        status_ = status;
        return std::filesystem::exists(path);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }
  void signal(int sig) {
    if (!waited_) kill(pid_, sig);
  }
  // Exit code, or 128 + signal.
  int wait() {
    if (!waited_) {
      waitpid(pid_, &status_, 0);
      waited_ = true;
    }
    return WIFEXITED(status_) ? WEXITSTATUS(status_) : 128 + WTERMSIG(status_);
  }
  std::string err() const { return read_file(err_path_); }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  bool waited_ = false;
  int status_ = 0;
  std::string err_path_;
};

}  // namespace grpo::testing
