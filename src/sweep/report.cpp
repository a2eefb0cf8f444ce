// The report of a sweep directory (see sweep/report.h).
#include "grpo/sweep/report.h"

#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "grpo/config/loader.h"
#include "grpo/core/error.h"
#include "grpo/core/json.h"

namespace fs = std::filesystem;

namespace grpo::sweep {
namespace {

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  GRPO_CHECK(f, "cannot read ", path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A number field, NaN when absent or null (non-finite metrics are written as null).
double number(const nlohmann::json& obj, const char* key) {
  const auto it = obj.find(key);
  if (it == obj.end() || !it->is_number()) return kNaN;
  return it->get<double>();
}

// The objects of a JSONL file that have a numeric "step", in file order. A corrupt line is
// skipped and named in `report->warnings`; one that is the unterminated last line is a run
// still writing (or killed mid-line), the others count as bad lines.
std::vector<nlohmann::json> read_steps(const std::string& path, SweepReport* report) {
  std::vector<nlohmann::json> rows;
  if (!fs::exists(path)) return rows;
  const std::string text = read_text(path);
  size_t pos = 0;
  int64_t lineno = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    const bool torn = eol == std::string::npos;
    if (torn) eol = text.size();
    const std::string line = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::string problem;
    nlohmann::json obj;
    try {
      obj = core::parse_json(line);  // bounded nesting (issue 18)
      if (!obj.is_object())
        problem = "expected a JSON object, got " + core::json_type_phrase(obj);
      else if (!obj.contains("step"))
        problem = "no numeric \"step\" field";
      else
        core::json_int(obj["step"], "\"step\"", 0);
    } catch (const Error& e) {
      problem = e.what();
    }
    if (problem.empty()) {
      rows.push_back(std::move(obj));
      continue;
    }
    if (torn) {
      report->warnings.push_back(fmt::format(
          "{}:{}: unterminated last line skipped (a run still writing?): {}", path, lineno,
          problem));
    } else {
      ++report->bad_lines;
      report->warnings.push_back(fmt::format("{}:{}: {}; line skipped", path, lineno, problem));
    }
  }
  return rows;
}

void read_run(const std::string& run, VariantResult* v, SweepReport* report) {
  if (!fs::is_directory(run)) {
    v->status = "missing";
    return;
  }
  int64_t eval_every = -1;
  const std::string config_path = run + "/config.yaml";
  if (fs::exists(config_path)) {
    try {
      const config::Config cfg = config::load_file(config_path);
      v->total_steps = cfg.trainer.total_steps;
      eval_every = cfg.trainer.eval_every;
    } catch (const std::exception& e) {
      report->warnings.push_back(config_path + ": does not load, total steps unknown: " +
                                 e.what());
    }
  }

  const std::vector<nlohmann::json> metrics = read_steps(run + "/metrics.jsonl", report);
  const std::vector<nlohmann::json> evals = read_steps(run + "/eval.jsonl", report);
  double wall = 0;
  bool any_time = false;
  if (!metrics.empty()) {
    const nlohmann::json& last = metrics.back();
    v->last_step = core::json_int(last["step"], "step", 0);  // checked by read_steps
    v->final_reward = number(last, "reward/mean");
    v->final_resp_len = number(last, "resp_len/mean");
    v->final_kl = number(last, "kl/mean");
  }
  for (const auto& m : metrics) {
    const double t = number(m, "time/step_s");
    if (std::isfinite(t)) wall += t, any_time = true;
  }
  int64_t last_eval_step = -1;
  for (const auto& e : evals) {
    const int64_t step = core::json_int(e["step"], "step", 0);  // checked by read_steps
    const double acc = number(e, "eval/acc_pass1");
    last_eval_step = step;
    v->eval_acc.emplace_back(step, acc);
    v->final_eval_acc = acc;
    v->final_eval_format = number(e, "eval/format");
    const double t = number(e, "time/eval_s");
    if (std::isfinite(t)) wall += t, any_time = true;
  }
  // Best over the evals after training started; the step-0 eval is the base model.
  for (const auto& [step, acc] : v->eval_acc) {
    if ((step > 0 || v->eval_acc.size() == 1) && std::isfinite(acc) &&
        !(acc <= v->best_eval_acc))
      v->best_eval_acc = acc;
  }
  if (any_time) v->wall_s = wall;

  const std::string status_path = run + "/sweep_status.json";
  if (fs::exists(status_path)) {
    try {
      const nlohmann::json st = core::parse_json(read_text(status_path));
      GRPO_CHECK(st.is_object() && st.contains("status") && st["status"].is_string(),
                 "expected an object with a string \"status\"");
      v->status = st["status"].get<std::string>();
      const double w = number(st, "wall_s");
      if (std::isfinite(w)) v->wall_s = w;
      return;
    } catch (const std::exception& e) {
      report->warnings.push_back(status_path + ": ignored: " + e.what());
    }
  }
  if (v->total_steps < 0) {
    v->status = "unknown";
    report->warnings.push_back(run + ": no loadable config.yaml: cannot tell whether it finished");
    return;
  }
  const bool trained = v->last_step == v->total_steps;
  const bool evaluated = eval_every <= 0 || last_eval_step == v->total_steps;
  v->status = trained && evaluated ? "done" : "partial";
}

std::string md_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += '\\';
    out += c;
  }
  return out;
}

std::string fmt_value(double x, int decimals) {
  if (!std::isfinite(x)) return "—";
  return fmt::format("{:.{}f}", x, decimals);
}

std::string fmt_stat(const Stat& s, int decimals) {
  if (s.n == 0) return "—";
  return fmt_value(s.mean, decimals) + " ± " + fmt_value(s.std, decimals);
}

// Shortest text that reads back as the same double; empty when absent.
std::string csv_number(double x) {
  if (!std::isfinite(x)) return "";
  return fmt::format("{}", x);
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// Decimals per column: accuracies and rates 3, reward 3, lengths 1, KL 4, seconds 1.
struct Column {
  const char* title;
  const char* csv;
  int decimals;
  double VariantResult::*value;
  Stat GroupResult::*stat;
};
const Column kColumns[] = {
    {"final eval acc", "final_eval_acc", 3, &VariantResult::final_eval_acc,
     &GroupResult::final_eval_acc},
    {"best eval acc", "best_eval_acc", 3, &VariantResult::best_eval_acc,
     &GroupResult::best_eval_acc},
    {"final eval format", "final_eval_format", 3, &VariantResult::final_eval_format,
     &GroupResult::final_eval_format},
    {"final train reward", "final_reward", 3, &VariantResult::final_reward,
     &GroupResult::final_reward},
    {"final resp len", "final_resp_len", 1, &VariantResult::final_resp_len,
     &GroupResult::final_resp_len},
    {"final KL", "final_kl", 4, &VariantResult::final_kl, &GroupResult::final_kl},
    {"wall s", "wall_s", 1, &VariantResult::wall_s, &GroupResult::wall_s},
};

}  // namespace

Stat mean_std(const std::vector<double>& values) {
  Stat s;
  double sum = 0;
  for (double x : values)
    if (std::isfinite(x)) sum += x, ++s.n;
  if (s.n == 0) return s;
  s.mean = sum / static_cast<double>(s.n);
  if (s.n < 2) return s;
  double ss = 0;
  for (double x : values)
    if (std::isfinite(x)) ss += (x - s.mean) * (x - s.mean);
  s.std = std::sqrt(ss / static_cast<double>(s.n - 1));
  return s;
}

std::vector<GroupResult> group_results(const std::vector<VariantResult>& variants) {
  std::vector<GroupResult> groups;
  std::map<std::string, size_t> index;
  std::vector<std::vector<const VariantResult*>> done;
  for (const auto& v : variants) {
    auto it = index.find(v.group);
    if (it == index.end()) {
      it = index.emplace(v.group, groups.size()).first;
      groups.emplace_back();
      groups.back().group = v.group;
      done.emplace_back();
    }
    GroupResult& g = groups[it->second];
    ++g.n_total;
    if (v.status == "done") ++g.n_done, done[it->second].push_back(&v);
  }
  for (size_t i = 0; i < groups.size(); ++i) {
    for (const Column& c : kColumns) {
      std::vector<double> xs;
      for (const VariantResult* v : done[i]) xs.push_back(v->*c.value);
      groups[i].*c.stat = mean_std(xs);
    }
  }
  return groups;
}

SweepReport load_sweep_report(const std::string& dir) {
  GRPO_USAGE_CHECK(fs::is_directory(dir), "sweep directory ", dir, " does not exist");
  const std::string path = (fs::path(dir) / "sweep.json").string();
  GRPO_USAGE_CHECK(fs::exists(path), path, ": not found (is ", dir,
                   " the output directory of `grpo sweep`?)");
  nlohmann::json doc;
  const std::string text = read_text(path);
  try {
    doc = core::parse_json(text);  // bounded nesting (issue 18)
  } catch (const Error& e) {
    throw UsageError(path + ": " + e.what());
  }
  GRPO_USAGE_CHECK(doc.is_object(), path, ": expected a JSON object, got ",
                   core::json_type_phrase(doc));
  GRPO_USAGE_CHECK(doc.contains("variants") && doc["variants"].is_array(), path,
                   ": expected an array \"variants\"");
  SweepReport report;
  report.dir = dir;
  if (doc.contains("sweep") && doc["sweep"].is_string()) report.sweep_name = doc["sweep"];
  std::set<std::string> names;
  for (size_t i = 0; i < doc["variants"].size(); ++i) {
    const nlohmann::json& jv = doc["variants"][i];
    const std::string where = fmt::format("{}: variants[{}]", path, i);
    GRPO_USAGE_CHECK(jv.is_object(), where, ": expected an object, got ",
                     core::json_type_phrase(jv));
    GRPO_USAGE_CHECK(jv.contains("name") && jv["name"].is_string(), where,
                     ": expected a string \"name\"");
    VariantResult v;
    v.name = jv["name"];
    GRPO_USAGE_CHECK(!v.name.empty() && v.name != "." && v.name != ".." &&
                         v.name.find('/') == std::string::npos,
                     where, ": name \"", v.name, "\" is not a directory name");
    GRPO_USAGE_CHECK(names.insert(v.name).second, where, ": name \"", v.name,
                     "\" appears twice");
    v.group = v.name;
    if (jv.contains("group") && !jv["group"].is_null()) {
      GRPO_USAGE_CHECK(jv["group"].is_string(), where, " (", v.name,
                       "): \"group\" must be a string, got ", core::json_type_phrase(jv["group"]));
      v.group = jv["group"];
    }
    if (jv.contains("seed") && !jv["seed"].is_null()) {
      try {
        v.seed = core::json_int(jv["seed"], where + " (" + v.name + "): \"seed\"", 0);
      } catch (const Error& e) {
        throw UsageError(e.what());
      }
    }
    read_run((fs::path(dir) / v.name).string(), &v, &report);
    report.variants.push_back(std::move(v));
  }
  report.groups = group_results(report.variants);
  return report;
}

std::string report_markdown(const SweepReport& r) {
  std::string out = "## Sweep " + (r.sweep_name.empty() ? r.dir : r.sweep_name) + "\n\n";
  std::string head = "| group | seeds done |", rule = "|---|---|";
  for (const Column& c : kColumns) head += std::string(" ") + c.title + " |", rule += "---|";
  out += head + "\n" + rule + "\n";
  for (const GroupResult& g : r.groups) {
    out += "| " + md_escape(g.group) + " | " + fmt::format("{}/{}", g.n_done, g.n_total) + " |";
    for (const Column& c : kColumns) out += " " + fmt_stat(g.*c.stat, c.decimals) + " |";
    out += "\n";
  }
  out += "\nMean ± sample std over the group's finished seeds (— where n < 2 or absent). "
         "Final eval: the last eval line (greedy pass@1, eval/acc_pass1; eval/format); best: "
         "each seed's maximum over the evals after step 0. Train reward, response length "
         "and KL: the last logged step (reward/mean, resp_len/mean, kl/mean). Wall: "
         "sweep_status.json's wall_s, else the sum of time/step_s and time/eval_s.\n\n";
  head = "| variant | group | seed | status | step |";
  rule = "|---|---|---|---|---|";
  for (const Column& c : kColumns) head += std::string(" ") + c.title + " |", rule += "---|";
  out += head + "\n" + rule + "\n";
  for (const VariantResult& v : r.variants) {
    out += "| " + md_escape(v.name) + " | " + md_escape(v.group) + " | " +
           (v.seed >= 0 ? std::to_string(v.seed) : std::string("—")) + " | " +
           md_escape(v.status) + " | " +
           (v.last_step >= 0 ? std::to_string(v.last_step) : std::string("—")) + "/" +
           (v.total_steps >= 0 ? std::to_string(v.total_steps) : std::string("?")) + " |";
    for (const Column& c : kColumns) out += " " + fmt_value(v.*c.value, c.decimals) + " |";
    out += "\n";
  }
  if (!r.warnings.empty()) {
    out += "\nWarnings:\n\n";
    for (const auto& w : r.warnings) out += "- " + w + "\n";
  }
  return out;
}

std::string report_csv(const SweepReport& r) {
  std::string out = "kind,group,variant,seed,status,n_done,n_total,last_step,total_steps";
  for (const Column& c : kColumns) out += std::string(",") + c.csv + "," + c.csv + "_std";
  out += "\n";
  for (const GroupResult& g : r.groups) {
    out += "group," + csv_field(g.group) + ",,,," + std::to_string(g.n_done) + "," +
           std::to_string(g.n_total) + ",,";
    for (const Column& c : kColumns) {
      const Stat& s = g.*c.stat;
      out += "," + csv_number(s.mean) + "," + csv_number(s.std);
    }
    out += "\n";
  }
  for (const VariantResult& v : r.variants) {
    out += "variant," + csv_field(v.group) + "," + csv_field(v.name) + "," +
           (v.seed >= 0 ? std::to_string(v.seed) : std::string()) + "," + csv_field(v.status) +
           "," + (v.status == "done" ? "1" : "0") + ",1," +
           (v.last_step >= 0 ? std::to_string(v.last_step) : std::string()) + "," +
           (v.total_steps >= 0 ? std::to_string(v.total_steps) : std::string());
    for (const Column& c : kColumns) out += "," + csv_number(v.*c.value) + ",";
    out += "\n";
  }
  return out;
}

std::string eval_curves_tsv(const SweepReport& r) {
  std::set<int64_t> steps;
  // group -> step -> values of its variants at that step.
  std::vector<std::map<int64_t, std::vector<double>>> at(r.groups.size());
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < r.groups.size(); ++i) index[r.groups[i].group] = i;
  for (const VariantResult& v : r.variants) {
    std::map<int64_t, double> last;  // a step logged twice: its last line
    for (const auto& [step, acc] : v.eval_acc) last[step] = acc;
    for (const auto& [step, acc] : last) {
      steps.insert(step);
      at[index.at(v.group)][step].push_back(acc);
    }
  }
  if (steps.empty()) return "";
  std::string out = "step";
  for (const GroupResult& g : r.groups) out += "\t" + g.group;
  out += "\n";
  for (int64_t step : steps) {
    out += std::to_string(step);
    for (size_t i = 0; i < r.groups.size(); ++i) {
      const auto it = at[i].find(step);
      const Stat s = it == at[i].end() ? Stat{} : mean_std(it->second);
      out += "\t" + (s.n > 0 ? fmt::format("{}", s.mean) : std::string("NaN"));
    }
    out += "\n";
  }
  return out;
}

}  // namespace grpo::sweep
