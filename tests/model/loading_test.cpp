// Loading a model directory (issue 18, point 11): no random init is drawn for a model whose
// weights are loaded, the parameters are the memory-mapped file's pages (copy-on-write: training
// writes never reach the file), loaded weights are bitwise the saved ones across float32 and
// bfloat16, and a missing tensor or a truncated file is still a clear error.
#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/test_util.h"
#include "grpo/model/pretrained.h"
#include "grpo/model/safetensors.h"
#include "grpo/model/transformer.h"
#include "model/fixtures.h"

namespace grpo::model {
namespace {
namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;

// A model with perturbed norms (so a norm left at 1 would show) saved in `dtype` into a fresh
// directory; returns the directory.
std::string save_model(const std::string& name, at::ScalarType dtype, uint64_t seed = 3) {
  Transformer m(test::small_config());
  m.init_weights(seed);
  {
    at::NoGradGuard no_grad;
    at::manual_seed(seed);
    for (auto& [n, p] : m.parameter_list())
      if (p.dim() == 1) p.add_(0.3 * at::randn_like(p));
  }
  m.to(dtype);
  const std::string dir = testing::fresh_dir(name);
  save_pretrained(m, dir);
  return dir;
}

std::shared_ptr<Transformer> load(const std::string& dir, at::ScalarType dtype = at::kFloat) {
  config::ModelConfig cfg;
  cfg.path = dir;
  return create_model(cfg, /*tokenizer_vocab=*/0, /*seed=*/1, at::kCPU, dtype);
}

bool same_bytes(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  const at::Tensor x = a.contiguous(), y = b.contiguous();
  return std::memcmp(x.data_ptr(), y.data_ptr(), x.numel() * x.element_size()) == 0;
}

// [begin, end) of every mapping of `file` in this process with its permissions ("rw-p").
struct Mapping {
  uintptr_t begin, end;
  std::string perms;
};
std::vector<Mapping> mappings_of(const std::string& file) {
  const std::string want = fs::canonical(file).string();
  std::ifstream in("/proc/self/maps");
  std::vector<Mapping> out;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string range, perms, offset, dev, inode, path;
    ls >> range >> perms >> offset >> dev >> inode >> path;
    if (path != want) continue;
    const size_t dash = range.find('-');
    out.push_back({std::stoull(range.substr(0, dash), nullptr, 16),
                   std::stoull(range.substr(dash + 1), nullptr, 16), perms});
  }
  return out;
}

TEST(LoadingTest, ModelBuiltForLoadingDrawsNoRandomInit) {
  const std::string dir = save_model("load_noinit", at::kFloat);
  const int64_t before = Transformer::init_weights_calls();
  const auto m = load(dir);
  EXPECT_EQ(Transformer::init_weights_calls(), before)
      << "create_model drew a random init for a model whose weights it then loaded";
  EXPECT_TRUE(m->weights_set());
  // A random model draws exactly one (the seed's), not the constructor's as well.
  const int64_t before_random = Transformer::init_weights_calls();
  (void)create_model(test::small_config(), 0, /*seed=*/5);
  EXPECT_EQ(Transformer::init_weights_calls(), before_random + 1);
}

TEST(LoadingTest, LoadedParametersAreTheFileMappingAndTrainWithoutTouchingIt) {
  if (!fs::exists("/proc/self/maps")) GTEST_SKIP() << "no /proc/self/maps on this system";
  const std::string dir = save_model("load_mapped", at::kFloat);
  const std::string file = dir + "/model.safetensors";
  const std::string bytes_before = testing::read_file(file);
  const auto m = load(dir);

  // Every parameter's storage lies in a private (copy-on-write) mapping of the file: no copy.
  const std::vector<Mapping> maps = mappings_of(file);
  ASSERT_FALSE(maps.empty()) << file << " is not mapped: the weights were read into copies";
  for (const auto& [name, p] : m->parameter_list()) {
    const auto addr = reinterpret_cast<uintptr_t>(p.data_ptr());
    bool inside = false;
    for (const auto& mp : maps)
      if (addr >= mp.begin && addr < mp.end) {
        inside = true;
        EXPECT_EQ(mp.perms, "rw-p") << name << ": the mapping must be private and writable";
      }
    EXPECT_TRUE(inside) << name << " is a copy, not the file's pages";
  }

  // They are trainable leaves: a backward and an in-place update work.
  const at::Tensor ids = at::tensor(std::vector<int64_t>{3, 1, 4, 1, 5, 9, 2, 6}).view({2, 4});
  const at::Tensor loss =
      m->logits(m->forward(ids).hidden).log_softmax(-1).select(-1, 7).mean().neg();
  loss.backward();
  std::vector<at::Tensor> before;
  for (const auto& [name, p] : m->parameter_list()) before.push_back(p.detach().clone());
  int64_t updated = 0;
  {
    at::NoGradGuard no_grad;
    for (const auto& [name, p] : m->parameter_list()) {
      EXPECT_TRUE(p.requires_grad() && p.is_leaf() && p.is_contiguous()) << name;
      EXPECT_EQ(p.scalar_type(), at::kFloat) << name;
      if (!p.grad().defined()) continue;  // an expert no token was routed to
      p.sub_(p.grad(), 0.5);
      ++updated;
    }
  }
  EXPECT_GT(updated, 10);
  const NamedTensors after = m->parameter_list();
  EXPECT_FALSE(at::equal(after.front().second, before.front())) << after.front().first;
  const at::Tensor& head = m->lm_head_weight();
  EXPECT_GT(head.grad().abs().max().item<double>(), 0.0);

  // The file is unchanged, and a fresh load reads the saved weights, not the updated ones.
  EXPECT_TRUE(testing::read_file(file) == bytes_before) << file << " was written by training";
  const auto again = load(dir);
  const NamedTensors fresh = again->parameter_list();
  for (size_t i = 0; i < fresh.size(); ++i)
    EXPECT_TRUE(same_bytes(fresh[i].second, before[i])) << fresh[i].first;
}

TEST(LoadingTest, LoadedWeightsAreBitwiseTheSavedAcrossDtypes) {
  const std::string f32 = save_model("load_f32", at::kFloat);
  const std::string bf16 = save_model("load_bf16", at::kBFloat16);
  const TensorMap f32_file = load_sharded(f32), bf16_file = load_sharded(bf16);
  struct Case {
    const std::string* dir;
    const TensorMap* file;
    at::ScalarType into;
  };
  for (const Case& c :
       {Case{&f32, &f32_file, at::kFloat}, Case{&bf16, &bf16_file, at::kFloat},
        Case{&f32, &f32_file, at::kBFloat16}, Case{&bf16, &bf16_file, at::kBFloat16}}) {
    const auto m = load(*c.dir, c.into);
    for (const auto& [name, p] : m->state_tensors()) {
      // Conversions are exact (bf16 -> f32) or round to nearest even (f32 -> bf16), the same
      // as torch's .to().
      const at::ScalarType want = is_routing_bias(name) ? at::kFloat : c.into;
      const at::Tensor expected = c.file->at(name).to(want);
      EXPECT_TRUE(same_bytes(p, expected)) << *c.dir << " into " << c.into << ": " << name;
      EXPECT_TRUE(p.is_contiguous()) << name;
    }
  }
}

TEST(LoadingTest, MissingTensorOrTruncatedFileIsStillAnError) {
  const std::string dir = save_model("load_missing", at::kFloat);
  const std::string file = dir + "/model.safetensors";
  const std::string good = testing::read_file(file);
  {
    TensorMap w = load_safetensors(file);
    w.erase("model.layers.2.mlp.experts.3.up_proj.weight");
    NamedTensors kept(w.begin(), w.end());
    save_safetensors(file, kept);
  }
  EXPECT_THAT(testing::error_of([&] { load(dir); }),
              AllOf(HasSubstr(dir), HasSubstr("missing tensors"),
                    HasSubstr("model.layers.2.mlp.experts.3.up_proj.weight")));

  testing::write_file(file, good.substr(0, good.size() - 100));
  EXPECT_THAT(testing::error_of([&] { load(dir); }),
              AllOf(HasSubstr(file), HasSubstr("tensor '"), HasSubstr("truncated")));
}

TEST(LoadingTest, ModelBuiltUnsetRefusesToRunUntilLoaded) {
  const config::ModelConfig cfg = test::small_config();
  Transformer m(cfg, Init::kNone);
  m.to(at::kCPU, at::kBFloat16);  // unset: allocated in bf16, nothing converted
  EXPECT_EQ(m.dtype(), at::kBFloat16);
  const at::Tensor ids = at::zeros({1, 3}, at::kLong);
  EXPECT_THAT(testing::error_of([&] { m.forward(ids); }),
              AllOf(HasSubstr("model.forward"), HasSubstr("built without weights")));
  // A refused state sets nothing: the model stays unset.
  const auto ref = std::make_shared<Transformer>(cfg);
  TensorMap state;
  for (const auto& [n, t] : ref->state_tensors()) state[n] = t.clone();
  state.erase("model.norm.weight");
  EXPECT_THAT(testing::error_of([&] { m.load_state(state, "ckpt"); }),
              HasSubstr("model.norm.weight"));
  EXPECT_FALSE(m.weights_set());
  EXPECT_THAT(testing::error_of([&] { m.forward(ids); }), HasSubstr("built without weights"));
  for (const auto& [n, t] : ref->state_tensors()) state[n] = t.clone();
  m.load_state(std::move(state), "ckpt");
  EXPECT_TRUE(m.weights_set());
  EXPECT_EQ(m.dtype(), at::kBFloat16);
  EXPECT_EQ(m.forward(ids).hidden.scalar_type(), at::kBFloat16);

  // create_model for a caller that loads (a resume) leaves the weights to it, drawing none.
  const int64_t before = Transformer::init_weights_calls();
  const auto unset = create_model(cfg, 0, 1, at::kCPU, at::kFloat, WeightsFrom::kCaller);
  EXPECT_EQ(Transformer::init_weights_calls(), before);
  EXPECT_FALSE(unset->weights_set());
  EXPECT_THAT(testing::error_of([&] { save_pretrained(*unset, testing::fresh_dir("unset")); }),
              HasSubstr("no weights"));
}

TEST(LoadingTest, SavingOverAMappedFileLeavesItsTensorsIntact) {
  const std::string dir = testing::fresh_dir("load_overwrite");
  const std::string file = dir + "/t.safetensors";
  at::manual_seed(4);
  const at::Tensor a = at::randn({1000}), b = at::randn({7});
  save_safetensors(file, {{"w", a}});
  const TensorMap mapped = load_safetensors(file);
  // Replaced (write-then-rename), not rewritten in place under the mapping: the loaded tensor
  // keeps its values (an in-place rewrite would change them, or fault on the shorter file).
  save_safetensors(file, {{"w", b}});
  EXPECT_TRUE(same_bytes(mapped.at("w"), a));
  EXPECT_TRUE(same_bytes(load_safetensors(file).at("w"), b));
  EXPECT_FALSE(fs::exists(file + ".tmp"));
}

}  // namespace
}  // namespace grpo::model
