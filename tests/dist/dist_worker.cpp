// grpo_dist_worker: one rank of the multi-process tests (tests/dist/multiprocess_test.cpp),
// started by the real torchrun or with Slurm variables. Reads its place from the environment
// like `grpo train` will, joins with Gloo, and runs one scenario:
//   ops      every collective against values computed here in closed form, and three
//            data-parallel SGD steps against the single-process steps; prints
//            "PASS rank R" and exits 0, or "FAIL rank R: ..." and exits 3
//   die      two good calls, then rank --victim kills itself (SIGKILL) before an all_reduce
//   absent   two good calls, then rank --victim skips the all_reduce and sleeps (4x the timeout)
//   bench    times small and large all_reduces and tensor_hash, prints them (no assertion;
//            use --bucket-mb 25 for the default bucketing)
// Any grpo::Error is printed as "ERROR rank R after S s: <message>" and exits 1.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>

#include "grpo/core/error.h"
#include "grpo/core/numerics.h"
#include "grpo/dist/communicator.h"
#include "grpo/dist/data_parallel.h"
#include "grpo/dist/launch.h"
#include "grpo/dist/replica_check.h"

namespace {

using grpo::dist::Communicator;
using grpo::dist::ReduceOp;

int g_rank = -1;
std::string g_failure;

void expect(bool ok, const std::string& what) {
  if (!ok && g_failure.empty()) g_failure = what;
}

void expect_equal(const at::Tensor& got, const at::Tensor& want, const std::string& what) {
  const bool same_shape = got.sizes() == want.sizes() && got.scalar_type() == want.scalar_type();
  const bool ok = same_shape && at::equal(got, want);
  std::ostringstream os;
  os << what << ": got " << got.scalar_type() << got.sizes() << " want " << want.scalar_type()
     << want.sizes();
  if (same_shape && !ok) os << ", max |diff| " << (got.to(at::kDouble) - want.to(at::kDouble)).abs().max().item<double>();
  expect(ok, os.str());
}

template <typename F>
void expect_error(F&& f, const std::string& needle, const std::string& what) {
  try {
    f();
    expect(false, what + ": no error");
  } catch (const grpo::Error& e) {
    expect(std::string(e.what()).find(needle) != std::string::npos,
           what + ": message lacks '" + needle + "': " + e.what());
  }
}

// Integer-valued data, so every sum is exact in every dtype and reduction order.
at::Tensor ints(std::vector<int64_t> shape, at::ScalarType dtype, int64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(static_cast<uint64_t>(seed));
  return at::randint(-50, 50, shape, gen, at::TensorOptions().dtype(at::kLong)).to(dtype);
}

void scenario_ops(Communicator& comm) {
  const int w = comm.world_size(), r = comm.rank();
  const double rank_sum = w * (w - 1) / 2.0;

  // all_reduce Sum over mixed dtypes and odd sizes: rank r holds base_i + (i+1)*r, so the sum is
  // w*base_i + (i+1)*w(w-1)/2. bucket_mb is tiny (see main) so this spans many buckets.
  const std::vector<std::vector<int64_t>> shapes = {{1}, {3, 7}, {19}, {733}, {2, 3, 5}, {0}};
  const at::ScalarType dtypes[] = {at::kFloat, at::kDouble, at::kLong, at::kFloat, at::kInt, at::kFloat};
  std::vector<at::Tensor> mine, want;
  for (size_t i = 0; i < shapes.size(); ++i) {
    const at::Tensor base = ints(shapes[i], dtypes[i], 17 + static_cast<int64_t>(i));
    mine.push_back(base + static_cast<int64_t>(i + 1) * r);
    want.push_back(base * w + static_cast<int64_t>((i + 1) * rank_sum));
  }
  // A non-contiguous view is reduced in place too.
  at::Tensor backing = ints({5, 4}, at::kFloat, 5) + r;
  at::Tensor view = backing.t();
  mine.push_back(view);
  want.push_back((ints({5, 4}, at::kFloat, 5) * w + rank_sum).t());
  comm.all_reduce(mine, ReduceOp::Sum);
  for (size_t i = 0; i < mine.size(); ++i)
    expect_equal(mine[i], want[i], "all_reduce sum tensor " + std::to_string(i));
  expect_equal(backing.t(), want.back(), "all_reduce wrote through the view");

  // Mean: base + (w-1)/2, exact in float64 for these small integers and halves.
  at::Tensor m = ints({11}, at::kDouble, 3) + r;
  comm.all_reduce(m, ReduceOp::Mean);
  expect_equal(m, ints({11}, at::kDouble, 3) + (w - 1) / 2.0, "all_reduce mean");

  std::vector<double> values = {1.5 * r, 2.0};
  comm.all_reduce(values);
  expect(values[0] == 1.5 * rank_sum && values[1] == 2.0 * w, "all_reduce of doubles");

  // broadcast from the last rank: everyone ends with the root's data.
  const int root = w - 1;
  std::vector<at::Tensor> b = {ints({13}, at::kFloat, 100 + r), ints({2, 2}, at::kLong, 200 + r)};
  comm.broadcast(b, root);
  expect_equal(b[0], ints({13}, at::kFloat, 100 + root), "broadcast tensor 0");
  expect_equal(b[1], ints({2, 2}, at::kLong, 200 + root), "broadcast tensor 1");

  // Parameters (requires_grad leaves) broadcast from rank 0, several per bucket and one alone:
  // written in place without autograd complaints, still leaves that require grad.
  std::vector<at::Tensor> params = {ints({3, 5}, at::kFloat, 300 + r).set_requires_grad(true),
                                    ints({7}, at::kFloat, 400 + r).set_requires_grad(true),
                                    ints({2000}, at::kFloat, 500 + r).set_requires_grad(true)};
  const void* where = params[0].data_ptr();
  comm.broadcast(params, 0);
  for (int i = 0; i < 3; ++i) {
    expect_equal(params[i].detach(), ints(params[i].sizes().vec(), at::kFloat, 300 + 100 * i),
                 "broadcast of parameter " + std::to_string(i));
    expect(params[i].requires_grad() && params[i].is_leaf(), "parameter stays a leaf");
  }
  expect(params[0].data_ptr() == where, "broadcast writes into the parameter's storage");
  // Their gradients, Mean: rank r holds g_i + 2r, the mean is g_i + (w-1) (exact: integers).
  for (int i = 0; i < 3; ++i)
    params[i].mutable_grad() = ints(params[i].sizes().vec(), at::kFloat, 600 + i) + 2 * r;
  grpo::dist::all_reduce_gradients(comm, params, ReduceOp::Mean);
  for (int i = 0; i < 3; ++i)
    expect_equal(params[i].grad(), ints(params[i].sizes().vec(), at::kFloat, 600 + i) + (w - 1),
                 "all_reduce_gradients mean " + std::to_string(i));

  // Metric vectors and variable-length int64 vectors (rank 0's is empty).
  const std::vector<std::vector<double>> metrics = comm.all_gather(std::vector<double>{0.5 * r, -1.0 * r});
  std::vector<int64_t> lengths;
  for (int i = 0; i < r; ++i) lengths.push_back(int64_t{1} << (40 + i));  // beyond 32 bits
  const std::vector<std::vector<int64_t>> all_lengths = comm.all_gather(lengths);
  expect(static_cast<int>(metrics.size()) == w && static_cast<int>(all_lengths.size()) == w,
         "vector all_gather returns one vector per rank");
  for (int q = 0; q < w && q < static_cast<int>(metrics.size()); ++q) {
    expect(metrics[q] == std::vector<double>{0.5 * q, -1.0 * q}, "metric vector of rank " + std::to_string(q));
    std::vector<int64_t> want_lengths;
    for (int i = 0; i < q; ++i) want_lengths.push_back(int64_t{1} << (40 + i));
    expect(all_lengths[q] == want_lengths, "int64 vector of rank " + std::to_string(q));
  }

  // A string from the last rank (with a NUL byte inside), and an empty one from rank 0.
  const std::string secret = std::string("run/") + std::string(1, '\0') + "step_" + std::to_string(r);
  expect(comm.broadcast_string(secret, w - 1) ==
             std::string("run/") + std::string(1, '\0') + "step_" + std::to_string(w - 1),
         "broadcast_string from the last rank");
  expect(comm.broadcast_string(r == 0 ? "" : "not me", 0).empty(), "broadcast_string of \"\"");

  // all_gather, sizes differing in dim 0 (rank 0 sends no rows at all).
  at::Tensor rows = at::arange(3 * r, at::kFloat).reshape({r, 3}) + 10 * r;
  std::vector<at::Tensor> got = comm.all_gather(rows);
  expect(static_cast<int>(got.size()) == w, "all_gather returns one tensor per rank");
  for (int q = 0; q < w && q < static_cast<int>(got.size()); ++q)
    expect_equal(got[q], at::arange(3 * q, at::kFloat).reshape({q, 3}) + 10 * q,
                 "all_gather from rank " + std::to_string(q));
  std::vector<at::Tensor> scalars = comm.all_gather(at::scalar_tensor(r * 2.5, at::kDouble));
  for (int q = 0; q < w; ++q)
    expect_equal(scalars[q], at::scalar_tensor(q * 2.5, at::kDouble), "all_gather of scalars");

  // Shapes that disagree beyond dim 0: every rank throws, naming rank 1, and goes on.
  expect_error([&] { comm.all_gather(at::zeros({2, r == 1 ? 4 : 3})); }, "rank 1 sent Float [2, 4]",
               "all_gather shape mismatch");

  comm.barrier();

  // Replica check: equal tensors pass; one changed on rank 1 is named.
  std::vector<at::Tensor> replicas = {ints({7}, at::kFloat, 1), ints({3, 3}, at::kFloat, 2)};
  grpo::dist::verify_replicas(comm, {"w0", "w1"}, replicas, "parameters");
  if (r == 1) replicas[1][2][2] += 1e-3;
  expect_error([&] { grpo::dist::verify_replicas(comm, {"w0", "w1"}, replicas, "parameters"); },
               "rank 1 differs from rank 0 in w1", "replica mismatch");

  // Gradients: a parameter without a gradient on one rank still reduces.
  at::Tensor p = at::ones({4}).set_requires_grad(true);
  if (r != 0) p.mutable_grad() = at::full({4}, static_cast<double>(r));
  grpo::dist::all_reduce_gradients(comm, {p});
  expect_equal(p.grad(), at::full({4}, rank_sum), "all_reduce_gradients");
}

// The data-parallel step of data_parallel.h on a tiny model, against the single-process step on
// the whole batch that every rank also computes itself. Model: y = tanh(x W^T + b), per-token
// loss sum((y - t)^2), mean over the batch's tokens, SGD. P prompts of G sequences of 1..6
// tokens; sequence (step, p, g) draws its data from its own seed, as rollouts do, so a rank
// produces exactly the sequences of its shard. Step 3 has 2 prompts: with 3 ranks one gets none.
void scenario_data_parallel(Communicator& comm) {
  const int w = comm.world_size(), r = comm.rank();
  const int G = 2, kIn = 7, kOut = 5;
  const at::Tensor w0 = ints({kOut, kIn}, at::kFloat, 900) / 50.0, b0 = ints({kOut}, at::kFloat, 901) / 50.0;
  std::vector<at::Tensor> dp = {w0.clone().set_requires_grad(true), b0.clone().set_requires_grad(true)};
  std::vector<at::Tensor> ref = {w0.clone().set_requires_grad(true), b0.clone().set_requires_grad(true)};
  // Sum over the prompts [begin, end) of the per-token losses, and their token count.
  auto loss_sum = [&](const std::vector<at::Tensor>& params, int step, int64_t begin, int64_t end,
                      double* tokens) {
    at::Tensor sum = at::zeros({});
    for (int64_t p = begin; p < end; ++p)
      for (int g = 0; g < G; ++g) {
        const int64_t seed = 10000 * step + G * p + g;
        at::Generator gen = at::detail::createCPUGenerator(static_cast<uint64_t>(seed));
        const int64_t len = 1 + at::randint(6, {1}, gen).item<int64_t>();
        const at::Tensor x = at::randn({len, kIn}, gen), t = at::randn({len, kOut}, gen);
        sum = sum + (at::tanh(at::addmm(params[1], x, params[0].t())) - t).pow(2).sum();
        *tokens += static_cast<double>(len);
      }
    return sum;
  };
  auto sgd = [](const std::vector<at::Tensor>& params) {
    c10::NoGradGuard no_grad;
    for (const at::Tensor& p : params) {
      p.sub_(0.1 * p.grad());
      p.mutable_grad() = at::Tensor();
    }
  };
  const int64_t prompts[] = {7, 5, 2};
  for (int step = 0; step < 3; ++step) {
    const int64_t P = prompts[step];
    double all_tokens = 0;
    const at::Tensor all = loss_sum(ref, step, 0, P, &all_tokens);  // before all_tokens is read
    (all / all_tokens).backward();

    const grpo::dist::Shard shard = grpo::dist::shard_range(P, r, w);
    std::vector<double> count = {0.0};
    const at::Tensor local = loss_sum(dp, step, shard.begin, shard.end, &count[0]);
    comm.all_reduce(count);
    expect(count[0] == all_tokens, "global token count");
    if (shard.size() > 0) (local / count[0]).backward();
    grpo::dist::all_reduce_gradients(comm, dp);
    for (int i = 0; i < 2; ++i) {
      // float32 sums of the same terms in another order (per rank, then across ranks): a few
      // ulp of the largest partial sum, far below 1e-5 of the gradient's scale.
      const double scale = std::max(1e-3, ref[i].grad().abs().max().item<double>());
      const double diff = (dp[i].grad() - ref[i].grad()).abs().max().item<double>();
      expect(diff <= 1e-5 * scale, "data-parallel gradient " + std::to_string(i) + " at step " +
                                       std::to_string(step) + " off by " + std::to_string(diff));
    }
    sgd(ref);
    sgd(dp);
  }
  for (int i = 0; i < 2; ++i) {
    const double diff = (dp[i] - ref[i]).abs().max().item<double>();
    expect(diff <= 1e-6, "weights after 3 data-parallel steps off by " + std::to_string(diff));
  }
  // Every rank applied the same reduced gradient: the replicas agree bit for bit.
  grpo::dist::verify_replicas(comm, {"W", "b"}, dp, "weights after 3 steps");
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

void scenario_bench(Communicator& comm) {
  at::Tensor small = at::ones({256});  // 1 KiB: latency
  for (int i = 0; i < 20; ++i) comm.all_reduce(small);
  auto t0 = std::chrono::steady_clock::now();
  const int small_iters = 500;
  for (int i = 0; i < small_iters; ++i) comm.all_reduce(small);
  const double small_ms = seconds_since(t0) * 1e3 / small_iters;

  // 100 MiB of float32 in one call, as a gradient all-reduce of a ~26M-parameter model.
  std::vector<at::Tensor> grads;
  for (int i = 0; i < 20; ++i) grads.push_back(at::randn({1310720}));
  comm.all_reduce(grads);
  t0 = std::chrono::steady_clock::now();
  const int big_iters = 5;
  for (int i = 0; i < big_iters; ++i) comm.all_reduce(grads);
  const double big_s = seconds_since(t0) / big_iters;

  at::Tensor blob = at::randn({26214400});  // 100 MiB
  (void)grpo::dist::tensor_hash(blob);
  t0 = std::chrono::steady_clock::now();
  const uint64_t h = grpo::dist::tensor_hash(blob);
  const double hash_s = seconds_since(t0);
  if (comm.rank() == 0)
    std::cout << "BENCH world " << comm.world_size() << " threads " << at::get_num_threads()
              << ": all_reduce 1 KiB " << small_ms << " ms/op; all_reduce 100 MiB float32 "
              << big_s << " s (" << 100.0 / big_s << " MiB/s); tensor_hash 100 MiB " << hash_s
              << " s (" << 100.0 / hash_s << " MiB/s, " << (h & 0xff) << ")" << std::endl;
}

}  // namespace

int main(int argc, char** argv) {
  grpo::core::use_reproducible_blas();  // as the grpo binary does
  std::string scenario = argc > 1 ? argv[1] : "ops";
  double timeout_s = 10.0;
  int victim = -1;
  double bucket_mb = 0.001;  // ~1 KiB: many buckets in the ops scenario
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--timeout") timeout_s = std::atof(argv[i + 1]);
    if (flag == "--victim") victim = std::atoi(argv[i + 1]);
    if (flag == "--bucket-mb") bucket_mb = std::atof(argv[i + 1]);
  }
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  try {
    const grpo::dist::LaunchEnv env = grpo::dist::launch_env();
    g_rank = env.rank;
    grpo::dist::CommOptions opts;
    opts.timeout_s = timeout_s;
    opts.bucket_mb = bucket_mb;
    auto comm = Communicator::create(env, opts);
    if (scenario == "ops") {
      scenario_ops(*comm);
      scenario_data_parallel(*comm);
      if (!g_failure.empty()) {
        std::cout << "FAIL rank " << g_rank << ": " << g_failure << std::endl;
        return 3;
      }
      std::cout << "PASS rank " << g_rank << " of " << comm->world_size() << " backend "
                << comm->backend_name() << std::endl;
      return 0;
    }
    if (scenario == "bench") {
      scenario_bench(*comm);
      return 0;
    }
    comm->barrier();
    comm->all_reduce(at::ones({5}));
    if (comm->rank() == victim) {
      if (scenario == "die") std::raise(SIGKILL);
      // Well past the others' timeout and post-mortem (the test ends this process earlier).
      std::this_thread::sleep_for(std::chrono::duration<double>(4 * timeout_s));
      return 0;
    }
    comm->all_reduce(at::ones({5}));
    std::cout << "NO ERROR rank " << g_rank << std::endl;
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "ERROR rank " << g_rank << " after " << elapsed() << " s: " << e.what()
              << std::endl;
    return 1;
  }
}
