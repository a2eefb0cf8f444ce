// Checkpoint directories: atomic creation, integrity manifest, `latest` pointer, retention,
// and choosing the checkpoint to resume from.
//
// Layout of a run directory:
//   <run>/checkpoints/step_<N>/   files written by the trainer + manifest.json
//   <run>/latest                  one line: "checkpoints/step_<N>"
// A checkpoint is written into <run>/checkpoints/.tmp_step_<N>/, every file and the directory
// fsynced, then renamed to step_<N> (rename is atomic on POSIX) and the parent fsynced; `latest`
// is replaced the same way (write, fsync, rename). A crash at any byte leaves the previous
// checkpoint and pointer intact. manifest.json records each file's size and 64-bit hash and is
// written last, so a directory without a valid manifest is never taken for a checkpoint.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace grpo::ckpt {

class PendingCheckpoint {
 public:
  // Starts checkpoint `step` of `run_dir` (removes leftovers of interrupted writes).
  PendingCheckpoint(const std::string& run_dir, int64_t step);
  ~PendingCheckpoint();  // an uncommitted checkpoint's temporary directory is removed
  PendingCheckpoint(const PendingCheckpoint&) = delete;
  PendingCheckpoint& operator=(const PendingCheckpoint&) = delete;

  // The temporary directory to write the checkpoint's files into.
  const std::string& dir() const { return tmp_dir_; }
  // Writes the manifest, fsyncs, renames into place and points `latest` at it. Returns the
  // final directory.
  std::string commit();

 private:
  std::string run_dir_, tmp_dir_, final_dir_;
  int64_t step_;
  bool committed_ = false;
};

// Directory of checkpoint `step`: <run>/checkpoints/step_<step>.
std::string checkpoint_dir(const std::string& run_dir, int64_t step);

// Steps of the complete checkpoints (a manifest present), ascending.
std::vector<int64_t> list_checkpoints(const std::string& run_dir);

// The checkpoint `latest` names, if the pointer exists (not verified).
std::optional<std::string> latest_pointer(const std::string& run_dir);

// Checks every file of the manifest (present, size, hash); throws grpo::Error naming the
// checkpoint and the file, also for a manifest that is not valid JSON, nests too deep or has
// entries of the wrong type or range.
void verify(const std::string& checkpoint_dir);

// The caller's check of what a checkpoint holds (finite tensors, counters in range): throws
// grpo::Error naming the file and what is wrong.
using ContentCheck = std::function<void(const std::string& checkpoint_dir)>;

// For resume: the newest checkpoint that verifies and passes `check` (when given), starting
// from `latest` and falling back to older ones (each rejection logged as a warning with its
// reason). nullopt if the run has none. Throws grpo::Error if checkpoints exist but none is
// good; a UsageError from `check` (a config that does not match) is passed on at once.
std::optional<std::string> find_resume_checkpoint(const std::string& run_dir,
                                                  const ContentCheck& check = {});

// Step number of a checkpoint directory (".../step_<N>"); throws grpo::Error otherwise.
int64_t checkpoint_step(const std::string& checkpoint_dir);

// Keeps the newest `keep_last` checkpoints, those whose step is a multiple of `keep_every`
// (> 0), and the one `latest` names; removes the rest.
void apply_retention(const std::string& run_dir, int64_t keep_last, int64_t keep_every);

// Writes `text` to `path` atomically and durably (temp file, fsync, rename, fsync of the dir).
void write_file_atomic(const std::string& path, const std::string& text);

// 64-bit content hash of a file (used by the manifest).
uint64_t hash_file(const std::string& path);

}  // namespace grpo::ckpt
