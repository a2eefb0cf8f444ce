// Which implementation of the hot ops runs: the fused ones of src/ops (one pass, the CUDA
// kernels on a GPU) or their readable references (`<op>_reference`, plain tensor ops with
// autograd). model.fused_ops decides it once (model::ops_impl_of); each op family has one
// dispatcher in ops that reads it, so modules carry the choice and never branch on it.
#pragma once

namespace grpo::ops {

enum class Impl { kFused, kReference };

}  // namespace grpo::ops
