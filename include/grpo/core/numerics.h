// Reproducible CPU linear algebra: which invariances the numbers of a run have, and the one
// switch that gives them.
//
// MKL (the BLAS of the torch wheel on x86) splits a multi-threaded GEMM's rows between threads
// and computes each share with a kernel chosen by its size, so by default a row's result
// depends on its position in the batch: greedy samples of one prompt, identical rows, got
// logprob sums -48.011110544 and -48.011109829 with 2 threads (issue 18, point 4). MKL's
// Conditional Numerical Reproducibility in strict mode (MKL_CBWR=AUTO,STRICT; Intel's oneMKL
// guide, "Obtaining Numerically Reproducible Results": ?gemm bitwise reproducible whatever the
// threading, AVX2/AVX-512 branches) computes every row of a GEMM the same way. What holds, on
// one machine (tests/cli/generate_cmd_test.cpp):
//   - a row's log-probs are bit-identical whatever its position among the rows of its batch;
//   - a run is bit-reproducible: the same config and run.threads give the same numbers
//     whatever the load (no thread count or schedule is chosen at run time);
// and what does not, by float32 rounding only (1e-6 relative on a 30-token logprob sum):
//   - another thread count (some ATen reductions split their work by it);
//   - other neighbours in the rollout's chunk: a prompt is left padded to the chunk's longest
//     prompt, which reorders sums (paged attention, issue 25, removes the padding).
// Other BLAS libraries (OpenBLAS on ARM) ignore the variable.
#pragma once

namespace grpo::core {

// Sets MKL_CBWR=AUTO,STRICT unless the environment already sets MKL_CBWR (a user's choice
// wins). Must run before the first BLAS call of the process: main() calls it first thing.
void use_reproducible_blas();

}  // namespace grpo::core
