// The local sweep runner: child processes, status files, signal forwarding (sweep/local.h).
#include "grpo/sweep/local.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "grpo/ckpt/checkpoint.h"
#include "grpo/core/error.h"
#include "grpo/core/json.h"
#include "grpo/core/signals.h"

namespace fs = std::filesystem;

namespace grpo::sweep {
namespace {

std::atomic<int> g_signals{0};
std::atomic<int> g_last_signal{0};

void on_signal(int sig) {
  g_last_signal.store(sig);
  g_signals.fetch_add(1);
}

// Restores the previous handlers when the run ends (tests call run_local in-process).
class SignalScope {
 public:
  SignalScope() {
    g_signals.store(0);
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, &old_term_);
    sigaction(SIGINT, &sa, &old_int_);
  }
  ~SignalScope() {
    sigaction(SIGTERM, &old_term_, nullptr);
    sigaction(SIGINT, &old_int_, nullptr);
  }

 private:
  struct sigaction old_term_ {};
  struct sigaction old_int_ {};
};

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

nlohmann::json read_json_or_empty(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return nlohmann::json::object();
  try {
    auto j = core::parse_json(read_text(path));  // bounded nesting (issue 18)
    if (j.is_object()) return j;
  } catch (const Error&) {
  }
  return nlohmann::json::object();  // not ours, or torn by a killed runner: start it over
}

std::string now_text() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                        "0123456789_-.,/=:+@%") == std::string::npos)
    return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// A started variant.
struct Running {
  size_t index;
  std::string dir, log;
  std::chrono::steady_clock::time_point start;
  double wall_before = 0;
  int64_t attempts = 0;
};

void write_status(const Running& r, const std::string& status, double wall_s, int exit_code) {
  nlohmann::ordered_json j = {{"status", status},     {"wall_s", wall_s},
                              {"attempts", r.attempts}, {"exit_code", exit_code},
                              {"log", r.log},         {"updated", now_text()}};
  ckpt::write_file_atomic(r.dir + "/sweep_status.json", j.dump(2) + "\n");
}

// fork + exec with stdout/stderr appended to `log`, in a process group of its own.
pid_t spawn(const std::vector<std::string>& args, const std::string& log) {
  const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  GRPO_CHECK(fd >= 0, "cannot open the log ", log, " for writing");
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec.
    setpgid(0, 0);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    execvp(argv[0], argv.data());
    const char msg[] = "grpo sweep: exec of the variant's command failed\n";
    (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
    _exit(127);
  }
  ::close(fd);
  GRPO_CHECK(pid > 0, "fork failed for ", args[0]);
  return pid;
}

std::string self_binary() {
  std::error_code ec;
  const fs::path p = fs::read_symlink("/proc/self/exe", ec);
  GRPO_CHECK(!ec, "cannot resolve /proc/self/exe: ", ec.message());
  return p.string();
}

int64_t env_int(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long long x = std::strtoll(v, &end, 10);
  return (end && *end == '\0' && x > 0) ? x : fallback;
}

// Seconds the trainer measured (trainer_state.json of the latest checkpoint), for runs finished
// outside the sweep runner.
double trainer_elapsed(const std::string& dir) {
  const auto steps = ckpt::list_checkpoints(dir);
  if (steps.empty()) return 0;
  const auto j = read_json_or_empty(ckpt::checkpoint_dir(dir, steps.back()) +
                                    "/trainer_state.json");
  return j.is_object() && j.contains("elapsed_s") && j["elapsed_s"].is_number()
             ? j["elapsed_s"].get<double>()
             : 0.0;
}

}  // namespace

bool variant_finished(const std::string& run_dir, const config::Config& cfg) {
  std::error_code ec;
  if (!fs::is_directory(run_dir, ec)) return false;
  const auto steps = ckpt::list_checkpoints(run_dir);
  return !steps.empty() && steps.back() >= cfg.trainer.total_steps;
}

int64_t threads_per_variant(int64_t cpus, int64_t parallel) {
  return std::max<int64_t>(1, cpus / std::max<int64_t>(1, parallel));
}

int run_local(const Sweep& s, const LocalOptions& opt) {
  GRPO_USAGE_CHECK(opt.parallel >= 1, "--parallel must be at least 1, got ", opt.parallel);
  const size_t n = s.variants.size();
  std::vector<size_t> todo;
  if (opt.only_index) {
    GRPO_USAGE_CHECK(*opt.only_index >= 0 && static_cast<size_t>(*opt.only_index) < n,
                     "--only-index ", *opt.only_index, ": the sweep ", s.file, " has ", n,
                     " variants (0 to ", n - 1, ")");
    // An array task re-reads the sweep file: it must still expand to what was submitted.
    const std::string json_path = s.output_dir + "/sweep.json";
    const auto j = read_json_or_empty(json_path);
    if (j.contains("variants")) {
      const auto& vs = j["variants"];
      const size_t i = static_cast<size_t>(*opt.only_index);
      GRPO_USAGE_CHECK(vs.size() == n && vs[i].value("name", "") == s.variants[i].name,
                       "the sweep file ", s.file, " changed since ", json_path,
                       " was written: variant ", i, " is now '", s.variants[i].name,
                       "'; submit the sweep again");
    }
    todo.push_back(static_cast<size_t>(*opt.only_index));
  } else {
    write_sweep_json(s);
    for (size_t i = 0; i < n; ++i) todo.push_back(i);
  }
  const std::string binary = opt.binary.empty() ? self_binary() : opt.binary;
  const int64_t cpus =
      opt.cpus > 0 ? opt.cpus
                   : env_int("SLURM_CPUS_PER_TASK",
                             std::max<int64_t>(1, std::thread::hardware_concurrency()));
  const int64_t threads = threads_per_variant(cpus, opt.parallel);

  auto label = [&](size_t i) {
    return "[" + std::to_string(i + 1) + "/" + std::to_string(n) + "] " + s.variants[i].name;
  };
  std::deque<size_t> pending;
  for (size_t i : todo) {
    const Variant& v = s.variants[i];
    const std::string dir = run_dir(s, v);
    if (variant_finished(dir, v.config)) {
      std::cout << label(i) << ": finished, skipped\n";
      const auto st = read_json_or_empty(dir + "/sweep_status.json");
      if (st.value("status", "") != "done") {
        Running r{i, dir, dir + "/train.log", {}, 0, st.value("attempts", int64_t{0})};
        write_status(r, "done", st.value("wall_s", trainer_elapsed(dir)), 0);
      }
    } else {
      pending.push_back(i);
    }
  }
  std::cout.flush();

  SignalScope signals;
  std::map<pid_t, Running> running;
  int done = 0, failed = 0, preempted = 0;
  std::vector<std::string> failed_logs;
  int handled_signals = 0;
  std::chrono::steady_clock::time_point first_forward;
  while (!pending.empty() || !running.empty()) {
    // Signals: the first is forwarded to every child; another one more than 2 s later is
    // forwarded again (the trainers then exit at once). A batch system that signals every
    // process of a job while a parent forwards the same signal delivers copies within
    // milliseconds: those are not forwarded twice.
    const int got = g_signals.load();
    if (got > handled_signals) {
      const auto now = std::chrono::steady_clock::now();
      const bool first = handled_signals == 0;
      if (first || now - first_forward > std::chrono::seconds(2)) {
        if (first) first_forward = now;
        std::cout << "grpo sweep: signal " << g_last_signal.load() << ": "
                  << (first ? "stopping: every running variant checkpoints and exits"
                            : "stopping now")
                  << "\n";
        std::cout.flush();
        for (const auto& [pid, r] : running) kill(pid, SIGTERM);
      }
      handled_signals = got;
    }
    const bool stopping = handled_signals > 0;
    while (!stopping && !pending.empty() && static_cast<int64_t>(running.size()) < opt.parallel) {
      const size_t i = pending.front();
      pending.pop_front();
      const Variant& v = s.variants[i];
      Running r;
      r.index = i;
      r.dir = run_dir(s, v);
      r.log = r.dir + "/train.log";
      fs::create_directories(r.dir);
      const auto prev = read_json_or_empty(r.dir + "/sweep_status.json");
      r.wall_before = prev.value("wall_s", 0.0);
      r.attempts = prev.value("attempts", int64_t{0}) + 1;
      std::vector<std::string> args;
      if (opt.srun) args = {"srun", "--kill-on-bad-exit=0"};
      args.push_back(binary);
      args.push_back("train");
      args.push_back(s.base);
      for (const auto& a : train_overrides(s, v)) args.push_back(a);
      args.push_back("run.resume=auto");
      if (v.config.run.threads == 0) args.push_back("run.threads=" + std::to_string(threads));
      std::string cmd;
      for (const auto& a : args) cmd += (cmd.empty() ? "" : " ") + shell_quote(a);
      {
        std::ofstream log(r.log, std::ios::app);
        log << "==== grpo sweep " << s.name << ": variant " << v.name << ", attempt "
            << r.attempts << ", " << now_text() << "\n$ " << cmd << "\n";
        GRPO_CHECK(log.good(), "cannot write ", r.log);
      }
      write_status(r, "running", r.wall_before, -1);
      r.start = std::chrono::steady_clock::now();
      const pid_t pid = spawn(args, r.log);
      std::cout << label(i) << ": " << (r.attempts > 1 ? "resuming" : "started") << " (log "
                << r.log << ")\n";
      std::cout.flush();
      running.emplace(pid, r);
    }
    if (running.empty()) break;
    // Polling keeps signal handling free of races with a blocking wait.
    int status = 0;
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    auto it = running.find(pid);
    if (it == running.end()) continue;
    const Running r = it->second;
    running.erase(it);
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    const double wall = r.wall_before + std::chrono::duration<double>(
                                            std::chrono::steady_clock::now() - r.start)
                                            .count();
    const Variant& v = s.variants[r.index];
    char secs[32];
    std::snprintf(secs, sizeof secs, "%.1f", wall);
    if (code == 0 && variant_finished(r.dir, v.config)) {
      ++done;
      write_status(r, "done", wall, code);
      std::cout << label(r.index) << ": done (" << secs << " s)\n";
    } else if (code == core::kExitPreempted) {
      ++preempted;
      write_status(r, "preempted", wall, code);
      std::cout << label(r.index) << ": stopped after a checkpoint; run the sweep again to "
                << "resume it (log " << r.log << ")\n";
    } else {
      ++failed;
      failed_logs.push_back(r.log);
      write_status(r, "failed", wall, code);
      std::cout << label(r.index) << ": FAILED (exit " << code << "), log " << r.log << "\n";
    }
    std::cout.flush();
  }
  const size_t not_started = pending.size();
  std::cout << "grpo sweep " << s.name << ": " << done << " done, " << (todo.size() - done -
            failed - preempted - not_started) << " already finished, " << failed << " failed, "
            << preempted << " stopped, " << not_started << " not started; output "
            << s.output_dir << "\n";
  for (const auto& l : failed_logs) std::cout << "  failed: " << l << "\n";
  std::cout.flush();
  if (failed > 0) return 1;
  if (preempted > 0 || handled_signals > 0) return core::kExitPreempted;
  return 0;
}

}  // namespace grpo::sweep
