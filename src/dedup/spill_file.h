// An unnamed temporary file for the matcher's spills: records and sorted
// keys that do not stay in memory, so the matcher's memory stays bounded
// however many records a population holds (DESIGN principle 4).
//
// The file holds patient data while the matcher runs. It is opened with
// O_TMPFILE (mode 0600): it never has a name another process could open, and
// the kernel frees it when it is closed, even when the process dies.
// Failures (no such directory, disk full) throw std::system_error naming the
// directory; callers turn that into a Status.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace medmigrate::dedup {

class SpillFile {
 public:
  // `dir` empty: $TMPDIR, else /tmp.
  explicit SpillFile(const std::string& dir = "");
  SpillFile(const SpillFile&) = delete;
  SpillFile& operator=(const SpillFile&) = delete;
  SpillFile(SpillFile&& other) noexcept;
  SpillFile& operator=(SpillFile&& other) noexcept;
  ~SpillFile();

  // Appends through a buffer; returns where the bytes start.
  uint64_t Append(const void* data, size_t size);
  // Writes the buffer out: reads and overwrites see only what is flushed.
  void Flush();
  void ReadAt(uint64_t offset, void* out, size_t size) const;
  void WriteAt(uint64_t offset, const void* data, size_t size);
  // Bytes appended so far (flushed or not).
  uint64_t size() const { return size_; }
  const std::string& dir() const { return dir_; }

 private:
  int fd_ = -1;
  std::string dir_;
  uint64_t size_ = 0;
  std::vector<char> buffer_;  // appended, not yet written
};

// The directory spills go to when none is given: $TMPDIR, else /tmp.
std::string DefaultSpillDir();

}  // namespace medmigrate::dedup
