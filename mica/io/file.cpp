// Shared machinery of the array-file formats: mapping, bounds-checked reads, arrays over file
// bytes, row-major streaming of strided arrays, atomic writes.
#include "mica/io/file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <random>

#include "mica/transforms.h"

namespace mica::io {

// Every format here is little-endian and the loaders hand out file bytes as they are.
static_assert(std::endian::native == std::endian::little, "mica/io assumes a little-endian host");

namespace {
struct Mapping {
  void* ptr;
  size_t size;
  Mapping(void* p, size_t n) : ptr(p), size(n) {}
  Mapping(const Mapping&) = delete;
  ~Mapping() { munmap(ptr, size); }
};

std::string errno_text() { return std::strerror(errno); }

// The process umask, read without changing it (umask(2) would race with other threads).
mode_t current_umask() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Umask:", 0) == 0) return static_cast<mode_t>(std::stoul(line.substr(6), nullptr, 8));
  }
  return 022;
}

std::string dir_of(const std::string& file) {
  auto slash = file.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return file.substr(0, slash);
}

void fsync_dir(const std::string& file) {
  int fd = ::open(dir_of(file).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;  // best effort: the rename itself has happened
  ::fsync(fd);
  ::close(fd);
}
}  // namespace

void fail(const char* op, const std::string& file, const std::string& problem) {
  throw std::runtime_error(std::string("[") + op + "] " + file + ": " + problem);
}

Bytes map_file(const std::string& file, const char* op) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; it is rejected below.
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) fail(op, file, "cannot open the file (" + errno_text() + ")");
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    auto e = errno_text();
    ::close(fd);
    fail(op, file, "cannot stat the file (" + e + ")");
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(op, file, "expected a regular file, got a directory or device");
  }
  size_t n = static_cast<size_t>(st.st_size);
  if (n == 0) {
    ::close(fd);
    static const uint8_t empty = 0;
    return Bytes{&empty, 0, nullptr};
  }
  // Copy-on-write: arrays handed out may be donated and written to; the file never changes.
  // MAP_NORESERVE: untouched pages need no swap reservation (a large file is not "committed").
  void* p = ::mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd, 0);
  auto e = errno_text();
  ::close(fd);
  if (p == MAP_FAILED) fail(op, file, "cannot map the file (" + e + ")");
  auto m = std::make_shared<Mapping>(p, n);
  return Bytes{static_cast<const uint8_t*>(p), n, m};
}

Bytes copy_bytes(const void* data, size_t n) {
  auto buf = std::shared_ptr<uint8_t[]>(new uint8_t[n == 0 ? 1 : n]);
  if (n) std::memcpy(buf.get(), data, n);
  return Bytes{buf.get(), n, buf};
}

void Reader::need(size_t n, const char* what) const {
  if (n > remaining()) {
    fail(std::string("truncated: ") + what + " needs " + std::to_string(n) + " bytes at offset " +
         std::to_string(pos_) + ", the file has " + std::to_string(remaining()) + " left");
  }
}

uint64_t Reader::uint(size_t n, const char* what) {
  need(n, what);
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(b_.data[pos_ + i]) << (8 * i);
  pos_ += n;
  return v;
}

const uint8_t* Reader::take(size_t n, const char* what) {
  need(n, what);
  const uint8_t* p = b_.data + pos_;
  pos_ += n;
  return p;
}

bool shape_bytes(const Shape& shape, size_t itemsize, size_t* out) {
  size_t n = itemsize;
  for (auto d : shape) {
    if (d < 0 || !mul_ok(n, static_cast<size_t>(d), &n)) return false;
  }
  *out = n;
  return true;
}

Shape checked_shape(const std::vector<uint64_t>& dims, Dtype dtype, size_t* nbytes, const char* op,
                    const std::string& file, const std::string& what) {
  if (dims.size() > kMaxDims) {
    fail(op, file, what + ": expected at most " + std::to_string(kMaxDims) + " dimensions, got " +
                       std::to_string(dims.size()));
  }
  Shape shape;
  shape.reserve(dims.size());
  for (auto d : dims) {
    if (d > static_cast<uint64_t>(INT32_MAX)) {
      fail(op, file, what + ": dimension " + std::to_string(d) + " exceeds the int32 range of mica shapes");
    }
    shape.push_back(static_cast<int32_t>(d));
  }
  if (!shape_bytes(shape, dtype.size, nbytes)) fail(op, file, what + ": the byte size of its shape overflows");
  return shape;
}

array new_array(Shape shape, Dtype dtype) {
  size_t n = 0;
  if (!shape_bytes(shape, dtype.size, &n)) throw std::overflow_error("[new_array] shape too large");
  return array(allocator::malloc(n), std::move(shape), dtype);
}

array array_from_bytes(const Bytes& b, size_t offset, size_t nbytes, Shape shape, Dtype dtype) {
  const uint8_t* p = b.data + offset;
  if (nbytes == 0) return new_array(std::move(shape), dtype);
  bool clean = true;
  if (dtype == bool_) {
    for (size_t i = 0; i < nbytes && clean; ++i) clean = p[i] <= 1;
  }
  bool aligned = reinterpret_cast<uintptr_t>(p) % dtype.size == 0;
  if (clean && aligned && b.owner) {
    // The array shares the file's bytes; its deleter keeps the mapping (or buffer) alive.
    auto owner = b.owner;
    return array(allocator::Buffer{const_cast<uint8_t*>(p), nbytes}, std::move(shape), dtype,
                 [owner](allocator::Buffer) {});
  }
  array out = new_array(std::move(shape), dtype);
  auto* dst = out.data<uint8_t>();
  std::memcpy(dst, p, nbytes);
  if (!clean) {
    for (size_t i = 0; i < nbytes; ++i) dst[i] = dst[i] != 0;
  }
  return out;
}

RowMajorCursor::RowMajorCursor(const array& a) : a_(a) {
  a_.eval();
  isz_ = a_.itemsize();
  total_ = a_.nbytes();
  base_ = a_.size() ? a_.data<uint8_t>() : nullptr;
  if (a_.flags().row_contiguous || a_.ndim() == 0) {
    inner_len_ = a_.size();  // one row over the whole buffer
    inner_stride_ = 1;
  } else {
    size_t nd = a_.ndim();
    inner_len_ = static_cast<size_t>(a_.shape(-1));
    inner_stride_ = a_.strides(-1);
    outer_shape_.assign(a_.shape().begin(), a_.shape().end() - 1);
    outer_strides_.assign(a_.strides().begin(), a_.strides().begin() + (nd - 1));
  }
  reset();
}

void RowMajorCursor::reset() {
  idx_.assign(outer_shape_.size(), 0);
  j_ = 0;
  off_ = 0;
  done_ = 0;
}

void RowMajorCursor::next_row() {
  j_ = 0;
  off_ -= static_cast<int64_t>(inner_len_) * inner_stride_;
  for (size_t d = outer_shape_.size(); d-- > 0;) {
    off_ += outer_strides_[d];
    if (++idx_[d] < outer_shape_[d]) return;
    off_ -= static_cast<int64_t>(outer_shape_[d]) * outer_strides_[d];
    idx_[d] = 0;
  }
}

size_t RowMajorCursor::read(void* dst_v, size_t n) {
  auto* dst = static_cast<uint8_t*>(dst_v);
  size_t out = 0;
  while (out < n && done_ < total_) {
    size_t in_elem = done_ % isz_;
    const uint8_t* src = base_ + off_ * static_cast<int64_t>(isz_);
    if (in_elem != 0 || n - out < isz_) {
      // A piece of one element (the caller's buffer ends inside it).
      size_t k = std::min(isz_ - in_elem, n - out);
      std::memcpy(dst + out, src + in_elem, k);
      out += k;
      done_ += k;
      if (done_ % isz_ == 0) {
        off_ += inner_stride_;
        if (++j_ == inner_len_) next_row();
      }
      continue;
    }
    size_t can = std::min(inner_len_ - j_, (n - out) / isz_);
    if (inner_stride_ == 1) {
      std::memcpy(dst + out, src, can * isz_);
    } else {
      int64_t step = inner_stride_ * static_cast<int64_t>(isz_);
      for (size_t i = 0; i < can; ++i) std::memcpy(dst + out + i * isz_, src + static_cast<int64_t>(i) * step, isz_);
    }
    out += can * isz_;
    done_ += can * isz_;
    j_ += can;
    off_ += static_cast<int64_t>(can) * inner_stride_;
    if (j_ == inner_len_) next_row();
  }
  return out;
}

void stream_array(const array& a0, const std::function<void(const void*, size_t)>& sink) {
  array a = a0;
  a.eval();
  constexpr size_t kChunk = size_t{1} << 22;
  if (a.size() == 0) return;
  if (a.flags().row_contiguous) {
    const auto* p = a.data<uint8_t>();
    for (size_t done = 0, n = a.nbytes(); done < n; done += kChunk) sink(p + done, std::min(kChunk, n - done));
    return;
  }
  RowMajorCursor cur(a);
  std::vector<uint8_t> buf(std::min(kChunk, cur.total()));
  while (size_t got = cur.read(buf.data(), buf.size())) sink(buf.data(), got);
}

std::string with_extension(std::string file, const std::string& ext) {
  if (file.size() < ext.size() || file.compare(file.size() - ext.size(), ext.size(), ext) != 0) file += ext;
  return file;
}

void eval_all(const std::unordered_map<std::string, array>& arrays) {
  std::vector<array> all;
  all.reserve(arrays.size());
  for (auto& [k, v] : arrays) all.push_back(v);
  if (!all.empty()) eval(std::move(all));
}

std::string temp_name(const std::string& file) {
  static std::atomic<uint64_t> counter{0};
  std::random_device rd;
  uint64_t r = (static_cast<uint64_t>(rd()) << 32) ^ rd() ^
               static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
               (counter.fetch_add(1) * 0x9E3779B97F4A7C15ull);
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(r));
  return file + ".tmp." + std::to_string(::getpid()) + "." + hex;
}

void install_temp(const std::string& temp, const std::string& file, const char* op) {
  int fd = ::open(temp.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(op, file, "cannot reopen the temporary file " + temp + " (" + errno_text() + ")");
  struct stat st;
  mode_t mode = ::stat(file.c_str(), &st) == 0 ? (st.st_mode & 07777) : (0666 & ~current_umask());
  ::fchmod(fd, mode);  // best effort: keeps the target's permissions
  if (::fsync(fd) != 0) {
    auto e = errno_text();
    ::close(fd);
    fail(op, file, "cannot sync the temporary file " + temp + " (" + e + ")");
  }
  ::close(fd);
  if (::rename(temp.c_str(), file.c_str()) != 0) {
    fail(op, file, "cannot rename the temporary file " + temp + " over it (" + errno_text() + ")");
  }
  fsync_dir(file);
}

AtomicFile::AtomicFile(std::string file, const char* op) : file_(std::move(file)), op_(op) {
  temp_ = temp_name(file_);
  fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd_ < 0) fail(op_, file_, "cannot create the temporary file " + temp_ + " (" + errno_text() + ")");
  buf_.reserve(kBuffer);
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(temp_.c_str());
}

void AtomicFile::fail_errno(const std::string& what) {
  fail(op_, file_, "cannot " + what + " the temporary file " + temp_ + " (" + errno_text() + ")");
}

void AtomicFile::write_all(const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (n > 0) {
    ssize_t k = ::write(fd_, p, std::min(n, size_t{1} << 30));
    if (k < 0) {
      if (errno == EINTR) continue;
      fail_errno("write");
    }
    p += k;
    n -= static_cast<size_t>(k);
  }
}

void AtomicFile::flush() {
  if (!buf_.empty()) write_all(buf_.data(), buf_.size());
  buf_.clear();
}

void AtomicFile::write(const void* data, size_t n) {
  written_ += n;
  if (buf_.size() + n <= kBuffer) {
    buf_.append(static_cast<const char*>(data), n);
    return;
  }
  flush();
  if (n >= kBuffer / 2) {
    write_all(data, n);
  } else {
    buf_.append(static_cast<const char*>(data), n);
  }
}

void AtomicFile::pad(size_t n) {
  static const char zeros[64] = {};
  while (n > 0) {
    size_t k = std::min(n, sizeof(zeros));
    write(zeros, k);
    n -= k;
  }
}

void AtomicFile::commit() {
  flush();
  struct stat st;
  if (::stat(file_.c_str(), &st) == 0) ::fchmod(fd_, st.st_mode & 07777);  // keep the target's permissions
  if (::fsync(fd_) != 0) fail_errno("sync");
  int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail_errno("close");
  if (::rename(temp_.c_str(), file_.c_str()) != 0) {
    fail(op_, file_, "cannot rename the temporary file " + temp_ + " over it (" + errno_text() + ")");
  }
  committed_ = true;
  fsync_dir(file_);
}

}  // namespace mica::io
