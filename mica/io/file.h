// Shared machinery of the array-file formats: bytes of a loaded file (mapped, or any
// in-memory span), bounds-checked reading, arrays over those bytes, atomic streaming writes.
// The format readers work on a Bytes span, so the fuzz targets can feed them memory directly.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <functional>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mica/array.h"
#include "mica/io.h"

namespace mica::io {

/** Largest number of dimensions a file may declare. */
inline constexpr size_t kMaxDims = 64;

/** Read-only bytes of a file and the owner that keeps them alive (a mapping or a buffer). */
struct Bytes {
  const uint8_t* data = nullptr;
  size_t size = 0;
  std::shared_ptr<const void> owner;
  /** The sub-span [offset, offset + n); the caller has checked the bounds. */
  Bytes sub(size_t offset, size_t n) const { return Bytes{data + offset, n, owner}; }
};

/** Maps a regular file copy-on-write (writes to arrays never reach the file); `op` names the
 *  caller in error messages. Throws std::runtime_error when the file cannot be opened. */
Bytes map_file(const std::string& file, const char* op);
/** Bytes owning a copy of [data, data + n) (for tests and fuzz targets). */
Bytes copy_bytes(const void* data, size_t n);

/** The error thrown for a bad file: "[op] file: problem". */
[[noreturn]] void fail(const char* op, const std::string& file, const std::string& problem);

/** A bounds-checked little-endian reader over Bytes; every read past the end throws. */
class Reader {
 public:
  Reader(const Bytes& b, const char* op, const std::string& file) : b_(b), op_(op), file_(file) {}
  /** Offset of the next read. */
  size_t pos() const { return pos_; }
  /** Bytes left after pos(). */
  size_t remaining() const { return b_.size - pos_; }
  /** Throws unless `n` more bytes are available; `what` names them in the message. */
  void need(size_t n, const char* what) const;
  /** Reads a little-endian unsigned integer of 1, 2, 4 or 8 bytes. */
  uint64_t uint(size_t n, const char* what);
  /** The next `n` bytes (checked) as a pointer; advances. */
  const uint8_t* take(size_t n, const char* what);
  /** Moves to `pos` (at most the size). */
  void seek(size_t pos) { pos_ = std::min(pos, b_.size); }
  /** Throws "[op] file: problem". */
  [[noreturn]] void fail(const std::string& problem) const { io::fail(op_, file_, problem); }

 private:
  const Bytes& b_;
  const char* op_;
  const std::string& file_;
  size_t pos_ = 0;
};

/** a * b, or false on overflow. */
inline bool mul_ok(size_t a, size_t b, size_t* out) { return !__builtin_mul_overflow(a, b, out); }
/** Element count of `shape` times `itemsize`, or false on overflow of size_t. */
bool shape_bytes(const Shape& shape, size_t itemsize, size_t* out);
/** Converts declared dimensions to a Shape; fails ("[op] file: ...") on a dimension past int32,
 *  too many dimensions or a byte count that overflows; `what` names the tensor. */
Shape checked_shape(const std::vector<uint64_t>& dims, Dtype dtype, size_t* nbytes, const char* op,
                    const std::string& file, const std::string& what);

/** An array of `shape` and `dtype` over b.data[offset, offset + nbytes): shares the bytes
 *  when they are aligned for the dtype, copies them otherwise. Bools are normalized to 0/1
 *  (copying when a byte is neither). The caller has checked the bounds and the byte count. */
array array_from_bytes(const Bytes& b, size_t offset, size_t nbytes, Shape shape, Dtype dtype);
/** A fresh array of `shape`/`dtype` whose buffer the caller fills. */
array new_array(Shape shape, Dtype dtype);

/** Writes a file atomically: bytes go to "<file>.tmp.<pid>.<random>" in the same directory;
 *  commit() fsyncs and renames it over `file`. Destroying it uncommitted removes the temp. */
class AtomicFile {
 public:
  AtomicFile(std::string file, const char* op);
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile();
  /** Appends `n` bytes (buffered). */
  void write(const void* data, size_t n);
  /** Appends `n` zero bytes. */
  void pad(size_t n);
  /** Bytes written so far. */
  uint64_t written() const { return written_; }
  /** Flushes, fsyncs and renames the temp over the target. */
  void commit();
  /** The temporary file's path. */
  const std::string& temp_path() const { return temp_; }

 private:
  static constexpr size_t kBuffer = size_t{1} << 20;
  void flush();
  void write_all(const void* data, size_t n);
  [[noreturn]] void fail_errno(const std::string& what);
  std::string file_;
  std::string temp_;
  const char* op_;
  int fd_ = -1;
  bool committed_ = false;
  std::string buf_;
  uint64_t written_ = 0;
};

/** Temp path "<file>.tmp.<pid>.<random>" next to `file`. */
std::string temp_name(const std::string& file);
/** Makes a finished temp file durable and moves it over `file`: sets the mode the target had
 *  (or 0666 & ~umask), fsyncs, renames, fsyncs the directory. Throws with `op` on failure. */
void install_temp(const std::string& temp, const std::string& file, const char* op);

/** Copies the bytes of an evaluated array in logical row-major order (whatever its strides),
 *  resumably: each read() continues where the last one stopped. */
class RowMajorCursor {
 public:
  explicit RowMajorCursor(const array& a);
  /** Copies up to `n` next bytes into `dst`; returns how many (0 at the end). */
  size_t read(void* dst, size_t n);
  /** Starts again from the first element. */
  void reset();
  /** Total bytes (size * itemsize). */
  size_t total() const { return total_; }

 private:
  void next_row();
  array a_;
  const uint8_t* base_ = nullptr;
  size_t isz_ = 0, total_ = 0, done_ = 0;
  Shape outer_shape_;
  Strides outer_strides_;
  std::vector<int32_t> idx_;
  size_t inner_len_ = 1;
  int64_t inner_stride_ = 1;
  size_t j_ = 0;      // index within the current row
  int64_t off_ = 0;   // element offset of the current element
};

/** Evaluates `a` and streams its bytes in logical row-major order to `sink` in chunks. */
void stream_array(const array& a, const std::function<void(const void*, size_t)>& sink);

/** Appends `ext` to `file` unless it already ends with it. */
std::string with_extension(std::string file, const std::string& ext);
/** Evaluates every array (so a failing computation throws before any file is touched). */
void eval_all(const std::unordered_map<std::string, array>& arrays);

// The format readers over bytes (`file` names the source in messages); the public loaders
// map the file and call these.
array load_npy_bytes(const Bytes& b, const std::string& file, const char* op = "load");
std::unordered_map<std::string, array> load_npz_bytes(const Bytes& b, const std::string& file);
SafetensorsLoad load_safetensors_bytes(const Bytes& b, const std::string& file);
GGUFLoad load_gguf_bytes(const Bytes& b, const std::string& file);

/** The .npy header for `a` (magic, version, dict, padding to a multiple of 64 bytes). */
std::string npy_header(const array& a, const char* op);

}  // namespace mica::io
