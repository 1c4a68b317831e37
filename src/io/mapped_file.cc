#include "io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "base/progress.h"

namespace moe {

Result<std::shared_ptr<MappedFile>> MappedFile::Open(const std::string& path, const LoadOptions& opts,
                                                     uint64_t align_at) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::Errorf("{}: cannot open: {}", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::Errorf("{}: not a regular file", path);
  }
  std::shared_ptr<MappedFile> f(new MappedFile());
  f->path_ = path;
  f->size_ = static_cast<uint64_t>(st.st_size);
  if (f->size_ == 0) {
    ::close(fd);
    return f;
  }
  if (opts.mmap) {
    void* p = ::mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED) return Status::Errorf("{}: mmap failed: {}", path, std::strerror(errno));
    f->data_ = static_cast<uint8_t*>(p);
    f->mapped_ = true;
    ::madvise(p, f->size_, MADV_WILLNEED);
  } else {
    // Anonymous memory, page-aligned, with offset align_at on a cache line: SIMD loads of
    // aligned tensors stay aligned.
    f->shift_ = static_cast<size_t>((64 - align_at % 64) % 64);
    void* p = ::mmap(nullptr, f->size_ + f->shift_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      ::close(fd);
      return Status::Errorf("{}: cannot allocate {} bytes to read the file", path, f->size_);
    }
    ::madvise(p, f->size_ + f->shift_, MADV_HUGEPAGE);
    f->data_ = static_cast<uint8_t*>(p) + f->shift_;
    Progress progress("loading " + path, f->size_, opts.progress);
    uint64_t done = 0;
    while (done < f->size_) {
      size_t chunk = static_cast<size_t>(std::min<uint64_t>(f->size_ - done, 64u << 20));
      ssize_t n = ::pread(fd, f->data_ + done, chunk, static_cast<off_t>(done));
      if (n <= 0) {
        ::close(fd);
        return Status::Errorf("{}: read failed at offset {}: {}", path, done,
                              n == 0 ? "unexpected end of file" : std::strerror(errno));
      }
      done += static_cast<uint64_t>(n);
      progress.Update(done);
    }
    progress.Finish();
    ::close(fd);
  }
  if (opts.mlock) {
    if (::mlock(f->data_, f->size_) != 0)
      return Status::Errorf("{}: mlock of {} bytes failed: {} (raise ulimit -l?)", path, f->size_,
                            std::strerror(errno));
    f->locked_ = true;
  }
  return f;
}

Status MappedFile::AllowWrites() {
  if (!mapped_ || data_ == nullptr) return Status();  // read into memory, or FromBytes: writable already
  // MAP_PRIVATE: writes go to private copies of the pages, the file is never written.
  if (::mprotect(data_, size_, PROT_READ | PROT_WRITE) != 0)
    return Status::Errorf("{}: cannot make the mapping writable: {}", path_, std::strerror(errno));
  return Status();
}

std::shared_ptr<MappedFile> MappedFile::FromBytes(std::vector<uint8_t> bytes, std::string name) {
  std::shared_ptr<MappedFile> f(new MappedFile());
  f->owned_ = std::move(bytes);
  f->path_ = std::move(name);
  f->size_ = f->owned_.size();
  f->data_ = f->owned_.empty() ? nullptr : f->owned_.data();
  return f;
}

MappedFile::~MappedFile() {
  if (data_ == nullptr || !owned_.empty()) return;
  if (locked_) ::munlock(data_, size_);
  ::munmap(data_ - shift_, size_ + shift_);
}

}  // namespace moe
