// Safetensors files: a generic name -> tensor reader and writer, single file or sharded.
//
// Format (huggingface/safetensors README): an 8-byte little-endian unsigned header length N,
// N bytes of UTF-8 JSON {"name": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, ...,
// "__metadata__": {str: str}}, then the data buffer; offsets are relative to the buffer start.
// Reading checks every field against the file's real size before touching data, as the
// reference implementation does (header size limit, offsets inside the buffer, byte count equal
// to shape x dtype size, tensors covering the buffer without gaps or overlap): a truncated or
// malformed file is a grpo::Error naming the file, the tensor and what is wrong, never an
// out-of-range read.
//
// Sharded layout (Hugging Face save_pretrained): <stem>-00001-of-0000K.safetensors ... and
// <stem>.safetensors.index.json = {"metadata": {"total_size": bytes}, "weight_map": {name: file}}.
//
// Used for model weights (model/pretrained.h) and for optimizer state (the ckpt module).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace grpo::model {

using TensorMap = std::map<std::string, at::Tensor>;
// Ordered (name, tensor) pairs; the same type as train::NamedTensors.
using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;
using Metadata = std::map<std::string, std::string>;

// dtypes read and written: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL F8_E4M3 F8_E5M2.
// The safetensors name of a torch dtype; throws grpo::Error for one the format cannot hold.
std::string safetensors_dtype_name(at::ScalarType dtype);

// One tensor as described by a file's header.
struct TensorInfo {
  std::string name;
  std::string dtype;             // safetensors name ("BF16")
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;   // byte offsets in the data buffer
};

// Writes `tensors` (any device, any supported dtype; written as stored, contiguous) to `path`
// in the given order, with optional "__metadata__". The header is padded with spaces to a
// multiple of 8 bytes, as the reference writer does. Names must be unique and non-empty.
// Written to <path>.tmp and renamed over `path`: a file that a loaded model still maps is
// replaced, never rewritten under it.
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const Metadata& metadata = {});

// Parses and validates the header of `path` without reading tensor data.
std::vector<TensorInfo> read_safetensors_header(const std::string& path,
                                                Metadata* metadata = nullptr);

// Every tensor of `path` as a CPU tensor of the file's dtype, without reading the data: the
// file is memory-mapped (MAP_PRIVATE) and each tensor is a contiguous view of the mapping
// (a copy only where its offset is misaligned for its dtype, or it is empty). The tensors are
// writable: a write copies the page touched (copy-on-write), the file never changes. The
// mapping lives as long as any of the tensors. A file truncated or rewritten in place while
// mapped is outside the contract (reading an unmapped page is SIGBUS); save_safetensors
// replaces files by renaming, which is safe.
TensorMap load_safetensors(const std::string& path, Metadata* metadata = nullptr);

// Writes `tensors` into `dir` as <stem>.safetensors when they fit in `max_shard_bytes`, else as
// shards of at most that size (a single larger tensor gets a shard of its own) plus the index
// JSON. Returns the file names written (shards first, then the index).
std::vector<std::string> save_sharded(const std::string& dir, const NamedTensors& tensors,
                                      int64_t max_shard_bytes, const std::string& stem = "model",
                                      const Metadata& metadata = {});

// Reads <dir>/<stem>.safetensors.index.json and every shard it names when the index exists,
// else <dir>/<stem>.safetensors, each through load_safetensors (mapped, not copied). Every
// tensor of the index must be in the shard it names and no shard may hold a tensor the index
// does not list.
TensorMap load_sharded(const std::string& dir, const std::string& stem = "model");

// True when `dir` holds <stem>.safetensors or its index.
bool has_safetensors(const std::string& dir, const std::string& stem = "model");

}  // namespace grpo::model
