// Safetensors reading and writing (see model/safetensors.h). The checks mirror the reference
// implementation's validation (huggingface/safetensors, safetensors/src/tensor.rs: header size
// limit, InvalidOffset, TensorInvalidInfo, MetadataIncompleteBuffer).
//
// Reading memory-maps the file, as the reference's safe_open does: the header is parsed from
// the mapping and each tensor is a view of it (no read, no copy) whose storage keeps the
// mapping alive. The mapping is MAP_PRIVATE and writable: writing to a tensor copies the page
// (copy-on-write) and never reaches the file.
#include "grpo/model/safetensors.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "grpo/core/error.h"
#include "grpo/core/json.h"

namespace grpo::model {
namespace fs = std::filesystem;
namespace {

static_assert(sizeof(uint64_t) == 8, "safetensors header length is 8 bytes");

// The reference implementation refuses headers above 100 MB (MAX_HEADER_SIZE); so do we, so a
// corrupt length never makes us allocate gigabytes.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct DtypeEntry {
  const char* name;
  at::ScalarType type;
};
constexpr DtypeEntry kDtypes[] = {
    {"F64", at::kDouble},      {"F32", at::kFloat},  {"F16", at::kHalf},
    {"BF16", at::kBFloat16},   {"I64", at::kLong},   {"I32", at::kInt},
    {"I16", at::kShort},       {"I8", at::kChar},    {"U8", at::kByte},
    {"BOOL", at::kBool},       {"F8_E4M3", at::kFloat8_e4m3fn},
    {"F8_E5M2", at::kFloat8_e5m2},
};

bool dtype_from_name(const std::string& name, at::ScalarType* out) {
  for (const auto& d : kDtypes)
    if (name == d.name) {
      *out = d.type;
      return true;
    }
  return false;
}

std::string dtype_list() {
  std::string s;
  for (const auto& d : kDtypes) s += (s.empty() ? "" : ", ") + std::string(d.name);
  return s;
}

bool little_endian_host() {
  const uint16_t one = 1;
  unsigned char b;
  std::memcpy(&b, &one, 1);
  return b == 1;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// A non-negative JSON integer, or false.
bool json_u64(const nlohmann::json& j, uint64_t* out) {
  if (j.is_number_unsigned()) {
    *out = j.get<uint64_t>();
    return true;
  }
  if (j.is_number_integer() && j.get<int64_t>() >= 0) {
    *out = static_cast<uint64_t>(j.get<int64_t>());
    return true;
  }
  return false;
}

// A whole file mapped MAP_PRIVATE, PROT_READ | PROT_WRITE; unmapped by the last owner (the
// tensors' storages hold a shared_ptr to it). The descriptor is closed once mapped.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    GRPO_CHECK(fd >= 0, path, ": cannot open safetensors file: ", std::strerror(errno));
    struct stat st {};
    const bool ok = ::fstat(fd, &st) == 0;
    const int stat_errno = errno;
    if (!ok || !S_ISREG(st.st_mode)) {
      ::close(fd);
      GRPO_CHECK(ok, path, ": cannot stat: ", std::strerror(stat_errno));
      throw Error(detail::concat(path, ": not a regular file (cannot read it as safetensors)"));
    }
    size_ = static_cast<uint64_t>(st.st_size);
    if (size_ > 0) {  // mmap refuses length 0; an empty file fails the length check below
      void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
      const int map_errno = errno;
      ::close(fd);
      GRPO_CHECK(p != MAP_FAILED, path, ": cannot memory-map ", size_, " bytes: ",
                 std::strerror(map_errno));
      base_ = static_cast<char*>(p);
    } else {
      ::close(fd);
    }
  }
  ~MappedFile() {
    if (base_) ::munmap(base_, size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  char* data() const { return base_; }
  uint64_t size() const { return size_; }

 private:
  char* base_ = nullptr;
  uint64_t size_ = 0;
};

struct ParsedHeader {
  std::vector<TensorInfo> tensors;
  Metadata metadata;
  uint64_t data_start = 0;  // file offset of the data buffer
};

// The header of the mapped file `file` (read from `path`).
ParsedHeader parse_header(const std::string& path, const MappedFile& file) {
  GRPO_CHECK(little_endian_host(), "safetensors IO needs a little-endian host");
  const uint64_t file_size = file.size();
  GRPO_CHECK(file_size >= 8, path, ": truncated safetensors file: ", file_size,
             " bytes, need at least 8 for the header length");
  uint64_t n = 0;
  std::memcpy(&n, file.data(), 8);
  GRPO_CHECK(n <= kMaxHeaderBytes, path, ": header length ", n, " exceeds the ",
             kMaxHeaderBytes, "-byte limit (corrupt file or not safetensors)");
  GRPO_CHECK(n <= file_size - 8, path, ": header length ", n, " exceeds the ", file_size - 8,
             " bytes after the length field (truncated file or not safetensors)");
  const std::string text(file.data() + 8, n);

  nlohmann::json header;
  try {
    header = core::parse_json(text);  // bounded nesting (issue 18)
  } catch (const Error& e) {
    throw Error(detail::concat(path, ": malformed JSON header: ", e.what()));
  }
  GRPO_CHECK(header.is_object(), path, ": malformed header: expected a JSON object, got ",
             core::json_type_phrase(header));

  ParsedHeader out;
  out.data_start = 8 + n;
  const uint64_t data_len = file_size - out.data_start;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      GRPO_CHECK(entry.is_object(), path, ": __metadata__ must be an object of strings");
      for (const auto& [k, v] : entry.items()) {
        GRPO_CHECK(v.is_string(), path, ": __metadata__ '", k, "' must be a string, got ",
                   core::json_type_phrase(v));
        out.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    const std::string where = path + ": tensor '" + name + "'";
    GRPO_CHECK(entry.is_object(), where, ": expected an object, got ",
               core::json_type_phrase(entry));
    GRPO_CHECK(entry.contains("dtype") && entry["dtype"].is_string(), where,
               ": missing or non-string 'dtype'");
    GRPO_CHECK(entry.contains("shape") && entry["shape"].is_array(), where,
               ": missing or non-array 'shape'");
    GRPO_CHECK(entry.contains("data_offsets") && entry["data_offsets"].is_array() &&
                   entry["data_offsets"].size() == 2,
               where, ": 'data_offsets' must be an array [begin, end]");
    TensorInfo info;
    info.name = name;
    info.dtype = entry["dtype"].get<std::string>();
    at::ScalarType type;
    GRPO_CHECK(dtype_from_name(info.dtype, &type), where, ": unsupported dtype '", info.dtype,
               "' (supported: ", dtype_list(), ")");
    uint64_t numel = 1;
    for (const auto& d : entry["shape"]) {
      uint64_t dim = 0;
      GRPO_CHECK(json_u64(d, &dim) && dim <= uint64_t(std::numeric_limits<int64_t>::max()),
                 where, ": shape entries must be non-negative integers, got ", d.dump());
      GRPO_CHECK(dim == 0 || numel <= std::numeric_limits<uint64_t>::max() / dim, where,
                 ": shape ", entry["shape"].dump(), " overflows");
      numel *= dim;
      info.shape.push_back(static_cast<int64_t>(dim));
    }
    GRPO_CHECK(json_u64(entry["data_offsets"][0], &info.begin) &&
                   json_u64(entry["data_offsets"][1], &info.end),
               where, ": data_offsets must be non-negative integers, got ",
               entry["data_offsets"].dump());
    GRPO_CHECK(info.begin <= info.end, where, ": data_offsets [", info.begin, ", ", info.end,
               "] end before they begin");
    GRPO_CHECK(info.end <= data_len, where, ": data_offsets [", info.begin, ", ", info.end,
               "] reach past the end of the data buffer (", data_len,
               " bytes): the file is truncated or its header is corrupt");
    const uint64_t item = c10::elementSize(type);
    GRPO_CHECK(numel <= std::numeric_limits<uint64_t>::max() / item, where, ": shape overflows");
    GRPO_CHECK(info.end - info.begin == numel * item, where, ": shape ",
               shape_text(info.shape), " of ", info.dtype, " needs ", numel * item,
               " bytes, data_offsets [", info.begin, ", ", info.end, "] hold ",
               info.end - info.begin);
    out.tensors.push_back(std::move(info));
  }
  // The tensors must tile the buffer exactly (the reference's InvalidOffset check): a gap or an
  // overlap means a corrupt header.
  std::vector<const TensorInfo*> order;
  for (const auto& t : out.tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](const TensorInfo* a, const TensorInfo* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t pos = 0;
  for (const TensorInfo* t : order) {
    GRPO_CHECK(t->begin == pos, path, ": tensor '", t->name, "' starts at byte ", t->begin,
               ", expected ", pos, " (tensors must cover the data buffer without gaps or overlap)");
    pos = t->end;
  }
  GRPO_CHECK(pos == data_len, path, ": the data buffer has ", data_len,
             " bytes but the tensors cover ", pos, " (corrupt header or trailing bytes)");
  return out;
}

std::string shard_name(const std::string& stem, size_t i, size_t n) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "-%05zu-of-%05zu.safetensors", i + 1, n);
  return stem + buf;
}

}  // namespace

std::string safetensors_dtype_name(at::ScalarType dtype) {
  for (const auto& d : kDtypes)
    if (d.type == dtype) return d.name;
  throw Error(detail::concat("safetensors: cannot store dtype ", c10::toString(dtype),
                             " (supported: ", dtype_list(), ")"));
}

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const Metadata& metadata) {
  GRPO_CHECK(little_endian_host(), "safetensors IO needs a little-endian host");
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    header["__metadata__"] = m;
  }
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    GRPO_CHECK(!name.empty() && name != "__metadata__", path, ": invalid tensor name '", name,
               "'");
    GRPO_CHECK(seen.insert(name).second, path, ": tensor '", name, "' given twice");
    GRPO_CHECK(t.defined(), path, ": tensor '", name, "' is undefined");
    const uint64_t bytes = static_cast<uint64_t>(t.numel()) * t.element_size();
    header[name] = {{"dtype", safetensors_dtype_name(t.scalar_type())},
                    {"shape", t.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  const uint64_t n = text.size();

  // Written beside the target and renamed over it: readers map files (load_safetensors), so an
  // existing file, possibly mapped by a live model (this process's, or another's), must be
  // replaced, never rewritten in place (a mapping of a truncated file faults with SIGBUS), and a
  // failed write leaves the old file whole.
  const std::string tmp = path + ".tmp";
  std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
  GRPO_CHECK(out, tmp, ": cannot open for writing: ", std::strerror(errno));
  out.write(reinterpret_cast<const char*>(&n), 8);
  out.write(text.data(), static_cast<std::streamsize>(n));
  for (const auto& [name, t] : tensors) {
    // One tensor at a time on the CPU, so a GPU model is never copied out whole.
    const at::Tensor c = t.detach().to(at::kCPU).contiguous();
    out.write(static_cast<const char*>(c.data_ptr()),
              static_cast<std::streamsize>(c.numel() * c.element_size()));
  }
  out.close();
  std::error_code ec;
  if (!out) {
    fs::remove(tmp, ec);
    throw Error(detail::concat(path, ": write failed (disk full?)"));
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw Error(detail::concat(path, ": cannot rename ", tmp, " over it: ", ec.message()));
  }
}

std::vector<TensorInfo> read_safetensors_header(const std::string& path, Metadata* metadata) {
  const MappedFile file(path);  // only the header's pages are read
  ParsedHeader h = parse_header(path, file);
  if (metadata) *metadata = h.metadata;
  return h.tensors;
}

TensorMap load_safetensors(const std::string& path, Metadata* metadata) {
  const auto file = std::make_shared<const MappedFile>(path);
  ParsedHeader h = parse_header(path, *file);
  if (metadata) *metadata = h.metadata;
  TensorMap out;
  for (const auto& info : h.tensors) {
    at::ScalarType type;
    GRPO_ASSERT(dtype_from_name(info.dtype, &type), "dtype checked by parse_header");
    const auto options = at::TensorOptions().dtype(type);
    char* data = file->data() + h.data_start + info.begin;
    const uint64_t bytes = info.end - info.begin;
    at::Tensor t;
    if (bytes > 0 && reinterpret_cast<uintptr_t>(data) % c10::elementSize(type) == 0) {
      // A view of the mapping; its storage owns a reference to it.
      t = at::from_blob(data, info.shape, [file](void*) {}, options);
    } else {
      // Empty, or misaligned for its dtype (the format aligns nothing: a BF16 tensor of odd
      // size shifts every later F32 by 2 bytes): a copy.
      t = at::empty(info.shape, options);
      if (bytes > 0) std::memcpy(t.data_ptr(), data, bytes);
    }
    out.emplace(info.name, std::move(t));
  }
  return out;
}

std::vector<std::string> save_sharded(const std::string& dir, const NamedTensors& tensors,
                                      int64_t max_shard_bytes, const std::string& stem,
                                      const Metadata& metadata) {
  GRPO_CHECK(max_shard_bytes > 0, "save_sharded: max_shard_bytes must be positive, got ",
             max_shard_bytes);
  fs::create_directories(dir);
  std::vector<NamedTensors> shards(1);
  int64_t shard_bytes = 0, total = 0;
  for (const auto& nt : tensors) {
    const int64_t bytes = nt.second.numel() * nt.second.element_size();
    if (!shards.back().empty() && shard_bytes + bytes > max_shard_bytes) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().push_back(nt);
    shard_bytes += bytes;
    total += bytes;
  }
  const std::string index_name = stem + ".safetensors.index.json";
  std::error_code ec;
  if (shards.size() == 1) {
    // A single file: remove a stale index so a reader cannot pick up old shards.
    fs::remove(fs::path(dir) / index_name, ec);
    const std::string file = stem + ".safetensors";
    save_safetensors((fs::path(dir) / file).string(), shards[0], metadata);
    return {file};
  }
  fs::remove(fs::path(dir) / (stem + ".safetensors"), ec);
  std::vector<std::string> files;
  nlohmann::json weight_map = nlohmann::json::object();  // sorted by name, as HF writes it
  for (size_t i = 0; i < shards.size(); ++i) {
    const std::string file = shard_name(stem, i, shards.size());
    save_safetensors((fs::path(dir) / file).string(), shards[i], metadata);
    for (const auto& nt : shards[i]) weight_map[nt.first] = file;
    files.push_back(file);
  }
  nlohmann::json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  const std::string index_path = (fs::path(dir) / index_name).string();
  std::ofstream out(index_path, std::ios::trunc);
  GRPO_CHECK(out, index_path, ": cannot open for writing");
  out << index.dump(2) << "\n";
  out.close();
  GRPO_CHECK(out, index_path, ": write failed");
  files.push_back(index_name);
  return files;
}

bool has_safetensors(const std::string& dir, const std::string& stem) {
  return fs::exists(fs::path(dir) / (stem + ".safetensors")) ||
         fs::exists(fs::path(dir) / (stem + ".safetensors.index.json"));
}

TensorMap load_sharded(const std::string& dir, const std::string& stem) {
  const fs::path index_path = fs::path(dir) / (stem + ".safetensors.index.json");
  if (!fs::exists(index_path)) {
    const fs::path single = fs::path(dir) / (stem + ".safetensors");
    GRPO_CHECK(fs::exists(single), dir, ": no ", stem, ".safetensors and no ",
               index_path.filename().string(), " (not a safetensors checkpoint directory)");
    return load_safetensors(single.string());
  }
  const std::string where = index_path.string();
  std::ifstream in(index_path);
  GRPO_CHECK(in, where, ": cannot open");
  nlohmann::json index;
  try {
    index = core::parse_json(std::string(std::istreambuf_iterator<char>(in), {}));
  } catch (const Error& e) {
    throw Error(detail::concat(where, ": malformed JSON: ", e.what()));
  }
  GRPO_CHECK(index.is_object() && index.contains("weight_map") && index["weight_map"].is_object(),
             where, ": expected an object with a 'weight_map' object");
  std::map<std::string, std::set<std::string>> by_file;
  for (const auto& [name, file] : index["weight_map"].items()) {
    GRPO_CHECK(file.is_string(), where, ": weight_map['", name, "'] must be a file name");
    const std::string f = file.get<std::string>();
    GRPO_CHECK(!f.empty() && f.find('/') == std::string::npos && f != "." && f != "..", where,
               ": weight_map['", name, "'] = '", f, "' is not a file name in the directory");
    by_file[f].insert(name);
  }
  TensorMap out;
  for (const auto& [file, names] : by_file) {
    TensorMap shard = load_safetensors((fs::path(dir) / file).string());
    for (const auto& n : names)
      GRPO_CHECK(shard.count(n), where, ": tensor '", n, "' is listed in ", file,
                 " but that shard does not hold it");
    for (auto& [n, t] : shard) {
      GRPO_CHECK(names.count(n), where, ": shard ", file, " holds tensor '", n,
                 "' that the index does not list there");
      out.emplace(n, std::move(t));
    }
  }
  return out;
}

}  // namespace grpo::model
