// `grpo bench load MODEL_DIR [--config FILE] [k=v ...]` (or model.path=DIR): what loading a
// model directory costs, one JSON line:
//   {"bench": "load", "model": "/tmp/m", "device": "cpu", "dtype": "float32",
//    "params": 390000000, "file_bytes": 1560000000, "load_s": 0.05, "rss_after_load_mb": 40.1,
//    "first_forward_s": 0.9, "rss_after_forward_mb": 700.2, "peak_rss_mb": 702.0}
// load_s is create_model (config.json, the safetensors headers, the parameters set from the
// memory-mapped files); the files' pages are read when first used, so first_forward_s (one
// forward over 8 tokens) carries the page faults of the weights that forward touches (the
// embedding rows, attention, the experts routed to). RSS is /proc/self/status VmRSS (mapped
// file pages count once touched), peak_rss_mb its high-water mark VmHWM over the process.
// run.device and run.dtype apply; the tokenizer is not built (the vocabulary is config.json's).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "grpo/config/loader.h"
#include "grpo/core/error.h"
#include "grpo/core/timer.h"
#include "grpo/model/pretrained.h"
#include "grpo/train/setup.h"

namespace grpo::cli {
namespace fs = std::filesystem;
namespace {

// A "Vm...:  N kB" line of /proc/self/status in MB; -1 where there is none (not Linux).
double proc_status_mb(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0) return std::stod(line.substr(key.size() + 1)) / 1024.0;
  return -1.0;
}

}  // namespace

int cmd_bench_load(const ConfigArgs& in) {
  ConfigArgs args = in;
  // A leading MODEL_DIR (no '=') is model.path.
  if (!args.overrides.empty() && args.overrides.front().find('=') == std::string::npos)
    args.overrides.front() = "model.path=" + args.overrides.front();
  const config::Config cfg =
      config::load_file(args.path.empty() ? "configs/r1zero_tiny.yaml" : args.path, args.overrides);
  const std::string& dir = cfg.model.path;
  GRPO_USAGE_CHECK(!dir.empty() && fs::is_directory(dir),
                   "bench load: give a model directory (grpo bench load MODEL_DIR), got '", dir,
                   "'");
  const train::RunPlacement place = train::place_run(cfg);
  const at::Device device = place.device;
  const at::ScalarType dtype = place.dtype;
  int64_t file_bytes = 0;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".safetensors") file_bytes += int64_t(e.file_size());

  core::Stopwatch sw;
  const auto m = model::create_model(cfg.model, /*tokenizer_vocab=*/0,
                                     static_cast<uint64_t>(cfg.run.seed), device, dtype);
  m->eval();
  const double load_s = sw.seconds();
  const double rss_load = proc_status_mb("VmRSS");

  sw.reset();
  {
    at::NoGradGuard no_grad;
    const at::Tensor ids =
        at::arange(8, at::TensorOptions().dtype(at::kLong)).unsqueeze(0) % m->config().vocab_size;
    const at::Tensor logits = m->logits(m->forward(ids).hidden);
    (void)logits.sum().item<double>();  // waits for the device
  }
  const double forward_s = sw.seconds();

  nlohmann::ordered_json out;
  out["bench"] = "load";
  out["model"] = dir;
  out["device"] = device.str();
  out["dtype"] = cfg.run.dtype;
  out["params"] = model::count_parameters(m->config()).total;
  out["file_bytes"] = file_bytes;
  out["load_s"] = load_s;
  out["rss_after_load_mb"] = rss_load;
  out["first_forward_s"] = forward_s;
  out["rss_after_forward_mb"] = proc_status_mb("VmRSS");
  out["peak_rss_mb"] = proc_status_mb("VmHWM");
  std::cout << out.dump() << std::endl;
  return 0;
}

}  // namespace grpo::cli
