#include "dedup/spill_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <system_error>

namespace medmigrate::dedup {

namespace {

constexpr size_t kBufferBytes = 256 * 1024;

[[noreturn]] void Fail(const std::string& what, const std::string& dir) {
  throw std::system_error(errno, std::generic_category(),
                          "dedup spill file in '" + dir + "': " + what);
}

}  // namespace

std::string DefaultSpillDir() {
  const char* dir = std::getenv("TMPDIR");
  return dir != nullptr && *dir != '\0' ? dir : "/tmp";
}

SpillFile::SpillFile(const std::string& dir) : dir_(dir.empty() ? DefaultSpillDir() : dir) {
  fd_ = ::open(dir_.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd_ < 0 && (errno == EOPNOTSUPP || errno == EISDIR)) {
    // A file system without O_TMPFILE: a named file, unlinked at once.
    std::string name = dir_ + "/medmigrate-dedup-XXXXXX";
    fd_ = ::mkostemp(name.data(), O_CLOEXEC);
    if (fd_ >= 0) ::unlink(name.c_str());
  }
  if (fd_ < 0) Fail("cannot create a temporary file", dir_);
}

SpillFile::SpillFile(SpillFile&& other) noexcept
    : fd_(other.fd_), dir_(std::move(other.dir_)), size_(other.size_),
      buffer_(std::move(other.buffer_)) {
  other.fd_ = -1;
}

SpillFile& SpillFile::operator=(SpillFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    dir_ = std::move(other.dir_);
    size_ = other.size_;
    buffer_ = std::move(other.buffer_);
    other.fd_ = -1;
  }
  return *this;
}

SpillFile::~SpillFile() {
  if (fd_ >= 0) ::close(fd_);
}

uint64_t SpillFile::Append(const void* data, size_t size) {
  const uint64_t at = size_;
  if (buffer_.capacity() < kBufferBytes) buffer_.reserve(kBufferBytes);
  if (buffer_.size() + size > kBufferBytes) Flush();
  if (size > kBufferBytes) {
    WriteAt(at, data, size);
  } else {
    const char* bytes = static_cast<const char*>(data);
    buffer_.insert(buffer_.end(), bytes, bytes + size);
  }
  size_ += size;
  return at;
}

void SpillFile::Flush() {
  if (buffer_.empty()) return;
  WriteAt(size_ - buffer_.size(), buffer_.data(), buffer_.size());
  buffer_.clear();
}

void SpillFile::ReadAt(uint64_t offset, void* out, size_t size) const {
  char* to = static_cast<char*>(out);
  while (size > 0) {
    const ssize_t got = ::pread(fd_, to, size, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) Fail(got == 0 ? "read past its end" : "read failed", dir_);
    to += got;
    offset += static_cast<uint64_t>(got);
    size -= static_cast<size_t>(got);
  }
}

void SpillFile::WriteAt(uint64_t offset, const void* data, size_t size) {
  const char* from = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t put = ::pwrite(fd_, from, size, static_cast<off_t>(offset));
    if (put < 0 && errno == EINTR) continue;
    if (put < 0) Fail("write failed", dir_);
    from += put;
    offset += static_cast<uint64_t>(put);
    size -= static_cast<size_t>(put);
  }
}

}  // namespace medmigrate::dedup
