// Checkpoint directories (see ckpt/checkpoint.h).
#include "grpo/ckpt/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "grpo/core/error.h"
#include "grpo/core/json.h"

namespace grpo::ckpt {
namespace fs = std::filesystem;
namespace {

constexpr const char* kManifest = "manifest.json";

void fsync_path(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  GRPO_CHECK(fd >= 0, "cannot open ", path, " to flush it: ", std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  GRPO_CHECK(rc == 0, "fsync of ", path, " failed: ", std::strerror(err));
}

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

bool parse_step_name(const std::string& name, int64_t* step) {
  if (name.rfind("step_", 0) != 0 || name.size() == 5) return false;
  for (size_t i = 5; i < name.size(); ++i)
    if (name[i] < '0' || name[i] > '9') return false;
  *step = std::stoll(name.substr(5));
  return true;
}

}  // namespace

uint64_t hash_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  GRPO_CHECK(in, "cannot read ", path);
  // Word-wise multiply-xorshift mixing (in the spirit of wyhash/xxh64, not either exactly):
  // fast and sensitive to every bit; a corruption detector, not a cryptographic hash.
  constexpr uint64_t kMul = 0x9E3779B97F4A7C15ull;
  uint64_t h = 0x243F6A8885A308D3ull, total = 0;
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const size_t n = static_cast<size_t>(in.gcount());
    total += n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      uint64_t w;
      std::memcpy(&w, buf.data() + i, 8);
      h = (h ^ w) * kMul;
      h ^= h >> 29;
    }
    for (; i < n; ++i) {
      h = (h ^ static_cast<unsigned char>(buf[i])) * kMul;
      h ^= h >> 31;
    }
  }
  h ^= total;
  h *= 0xBF58476D1CE4E5B9ull;
  return h ^ (h >> 32);
}

void write_file_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    GRPO_CHECK(out, "cannot write ", tmp, ": ", std::strerror(errno));
    out << text;
    out.flush();
    GRPO_CHECK(out.good(), "cannot write ", tmp, ": ", std::strerror(errno));
  }
  fsync_path(tmp, false);
  std::error_code ec;
  fs::rename(tmp, path, ec);
  GRPO_CHECK(!ec, "cannot rename ", tmp, " to ", path, ": ", ec.message());
  const auto parent = fs::path(path).parent_path();
  fsync_path(parent.empty() ? "." : parent.string(), true);
}

std::string checkpoint_dir(const std::string& run_dir, int64_t step) {
  return (fs::path(run_dir) / "checkpoints" / ("step_" + std::to_string(step))).string();
}

PendingCheckpoint::PendingCheckpoint(const std::string& run_dir, int64_t step)
    : run_dir_(run_dir), step_(step) {
  const fs::path root = fs::path(run_dir) / "checkpoints";
  fs::create_directories(root);
  // Leftovers of writes interrupted by a crash are never valid checkpoints.
  for (const auto& e : fs::directory_iterator(root))
    if (e.path().filename().string().rfind(".tmp_", 0) == 0) fs::remove_all(e.path());
  tmp_dir_ = (root / (".tmp_step_" + std::to_string(step))).string();
  final_dir_ = checkpoint_dir(run_dir, step);
  fs::create_directories(tmp_dir_);
}

PendingCheckpoint::~PendingCheckpoint() {
  if (!committed_) {
    std::error_code ec;
    fs::remove_all(tmp_dir_, ec);
  }
}

std::string PendingCheckpoint::commit() {
  GRPO_ASSERT(!committed_, "checkpoint committed twice");
  // Fault injection for the resume tests: GRPO_TEST_CHECKPOINT_DELAY_MS holds every checkpoint
  // in its temporary directory that long before it is committed, so a test can kill the process
  // in the middle of a checkpoint write deterministically instead of racing a short window.
  if (const char* d = std::getenv("GRPO_TEST_CHECKPOINT_DELAY_MS"))
    std::this_thread::sleep_for(std::chrono::milliseconds(std::atoll(d)));
  nlohmann::ordered_json files = nlohmann::ordered_json::object();
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(tmp_dir_))
    if (e.is_regular_file()) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    const std::string p = (fs::path(tmp_dir_) / name).string();
    fsync_path(p, false);
    files[name] = {{"bytes", fs::file_size(p)}, {"hash", hex64(hash_file(p))}};
  }
  nlohmann::ordered_json manifest = {{"step", step_}, {"files", files}};
  write_file_atomic((fs::path(tmp_dir_) / kManifest).string(), manifest.dump(2) + "\n");
  fsync_path(tmp_dir_, true);
  std::error_code ec;
  if (fs::exists(final_dir_)) fs::remove_all(final_dir_);  // a re-save of the same step
  fs::rename(tmp_dir_, final_dir_, ec);
  GRPO_CHECK(!ec, "cannot rename ", tmp_dir_, " to ", final_dir_, ": ", ec.message());
  fsync_path((fs::path(run_dir_) / "checkpoints").string(), true);
  write_file_atomic((fs::path(run_dir_) / "latest").string(),
                    "checkpoints/step_" + std::to_string(step_) + "\n");
  committed_ = true;
  return final_dir_;
}

std::vector<int64_t> list_checkpoints(const std::string& run_dir) {
  std::vector<int64_t> steps;
  const fs::path root = fs::path(run_dir) / "checkpoints";
  if (!fs::is_directory(root)) return steps;
  for (const auto& e : fs::directory_iterator(root)) {
    int64_t step;
    if (e.is_directory() && parse_step_name(e.path().filename().string(), &step) &&
        fs::exists(e.path() / kManifest))
      steps.push_back(step);
  }
  std::sort(steps.begin(), steps.end());
  return steps;
}

std::optional<std::string> latest_pointer(const std::string& run_dir) {
  std::ifstream in(fs::path(run_dir) / "latest");
  if (!in) return std::nullopt;
  std::string rel;
  std::getline(in, rel);
  if (rel.empty()) return std::nullopt;
  return (fs::path(run_dir) / rel).string();
}

int64_t checkpoint_step(const std::string& dir) {
  int64_t step;
  const std::string name = fs::path(dir).lexically_normal().filename().string().empty()
                               ? fs::path(dir).lexically_normal().parent_path().filename().string()
                               : fs::path(dir).lexically_normal().filename().string();
  GRPO_CHECK(parse_step_name(name, &step), "checkpoint directory ", dir,
             ": expected a name step_<N>");
  return step;
}

void verify(const std::string& dir) {
  const std::string mpath = (fs::path(dir) / kManifest).string();
  std::ifstream in(mpath, std::ios::binary);
  GRPO_CHECK(in, "checkpoint ", dir, ": missing ", kManifest, " (an incomplete checkpoint)");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  nlohmann::json m;
  try {
    m = core::parse_json(text);  // bounded nesting (issue 18)
  } catch (const Error& e) {
    throw Error("checkpoint " + dir + ": " + kManifest + " is corrupt (" + e.what() + ")");
  }
  GRPO_CHECK(m.is_object() && m.contains("files") && m["files"].is_object(), "checkpoint ", dir,
             ": ", kManifest, " is corrupt (expected an object with a \"files\" object)");
  for (const auto& [name, info] : m["files"].items()) {
    GRPO_CHECK(!name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos,
               "checkpoint ", dir, ": ", kManifest, " lists '", name,
               "', which is not a file name in the checkpoint (corrupt)");
    const std::string entry = "checkpoint " + dir + ": " + kManifest + " entry for " + name;
    GRPO_CHECK(info.is_object() && info.contains("bytes") && info.contains("hash"), entry,
               " is corrupt (expected bytes and hash)");
    const uint64_t want = core::json_uint(info["bytes"], entry + ": 'bytes'");
    GRPO_CHECK(info["hash"].is_string(), entry, ": 'hash': expected a string, got ",
               core::json_excerpt(info["hash"]));
    const std::string p = (fs::path(dir) / name).string();
    GRPO_CHECK(fs::exists(p), "checkpoint ", dir, ": file ", name, " is missing");
    const uint64_t bytes = fs::file_size(p);
    GRPO_CHECK(bytes == want, "checkpoint ", dir, ": file ", name, " has ", bytes,
               " bytes, the manifest says ", want, " (truncated or overwritten)");
    GRPO_CHECK(hex64(hash_file(p)) == info["hash"].get<std::string>(), "checkpoint ", dir,
               ": file ", name, " does not match its hash in the manifest (corrupt)");
  }
}

std::optional<std::string> find_resume_checkpoint(const std::string& run_dir,
                                                  const ContentCheck& check) {
  std::vector<std::string> candidates;
  if (auto p = latest_pointer(run_dir)) candidates.push_back(*p);
  const auto steps = list_checkpoints(run_dir);
  for (auto it = steps.rbegin(); it != steps.rend(); ++it) {
    const std::string d = checkpoint_dir(run_dir, *it);
    if (std::find(candidates.begin(), candidates.end(), d) == candidates.end())
      candidates.push_back(d);
  }
  if (candidates.empty()) return std::nullopt;
  std::string reasons;
  for (const auto& c : candidates) {
    try {
      verify(c);
      if (check) check(c);
      if (!reasons.empty()) spdlog::warn("resuming from the older checkpoint {}", c);
      return c;
    } catch (const UsageError&) {
      throw;  // about the command, not the checkpoint: an older one would not do either
    } catch (const Error& e) {
      spdlog::warn("cannot resume from {}: {}", c, e.what());
      reasons += std::string("\n  ") + e.what();
    }
  }
  throw Error("run " + run_dir + " has checkpoints but none is intact:" + reasons);
}

void apply_retention(const std::string& run_dir, int64_t keep_last, int64_t keep_every) {
  const auto steps = list_checkpoints(run_dir);
  std::set<int64_t> keep;
  for (size_t i = 0; i < steps.size(); ++i) {
    if (static_cast<int64_t>(steps.size() - i) <= keep_last) keep.insert(steps[i]);
    if (keep_every > 0 && steps[i] % keep_every == 0) keep.insert(steps[i]);
  }
  if (auto p = latest_pointer(run_dir)) {
    int64_t s;
    if (parse_step_name(fs::path(*p).filename().string(), &s)) keep.insert(s);
  }
  for (int64_t s : steps) {
    if (keep.count(s)) continue;
    std::error_code ec;
    fs::remove_all(checkpoint_dir(run_dir, s), ec);
    if (ec) spdlog::warn("retention: cannot remove {}: {}", checkpoint_dir(run_dir, s), ec.message());
  }
}

}  // namespace grpo::ckpt
