// .npy files (NumPy format 1.0, 2.0 and 3.0): load and save.
#include <cstring>

#include "mica/io.h"
#include "mica/io/file.h"
#include "mica/ops.h"

namespace mica {
namespace io {

namespace {

struct NpyDescr {
  Dtype dtype = float32;
  bool swap = false;  // big-endian data on this (little-endian) machine
};

// descr strings such as '<f4', '|b1', '>c8'; '<V2' is bfloat16, as MLX writes it.
bool parse_descr(const std::string& s, NpyDescr* out) {
  if (s.size() < 2) return false;
  size_t i = 0;
  char order = '=';
  if (s[0] == '<' || s[0] == '>' || s[0] == '|' || s[0] == '=') order = s[i++];
  std::string code = s.substr(i);
  static const std::pair<const char*, Dtype> table[] = {
      {"b1", bool_},   {"u1", uint8},   {"u2", uint16},  {"u4", uint32},  {"u8", uint64},
      {"i1", int8},    {"i2", int16},   {"i4", int32},   {"i8", int64},   {"f2", float16},
      {"f4", float32}, {"f8", float64}, {"c8", complex64}, {"V2", bfloat16},
  };
  for (auto& [c, d] : table) {
    if (code == c) {
      out->dtype = d;
      out->swap = order == '>' && d.size > 1;
      return true;
    }
  }
  return false;
}

// Parses the header dict, a Python literal such as
// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const char* op, const std::string& file) : t_(text), op_(op), file_(file) {}

  void parse(std::string* descr, bool* fortran, std::vector<uint64_t>* shape) {
    bool seen_descr = false, seen_fortran = false, seen_shape = false;
    ws();
    expect('{');
    for (;;) {
      ws();
      if (peek() == '}') break;
      std::string key = str();
      ws();
      expect(':');
      ws();
      if (key == "descr") {
        if (peek() == '[') bad("structured dtypes (a list as 'descr') are not supported");
        *descr = str();
        dup(seen_descr, key);
      } else if (key == "fortran_order") {
        *fortran = boolean();
        dup(seen_fortran, key);
      } else if (key == "shape") {
        *shape = tuple();
        dup(seen_shape, key);
      } else {
        bad("unexpected key '" + key + "' in the header");
      }
      ws();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      if (peek() != '}') bad("malformed header: expected ',' or '}' in the header dict");
    }
    ++i_;
    ws();
    if (i_ != t_.size()) bad("unexpected text after the header dict");
    if (!seen_descr || !seen_fortran || !seen_shape) {
      bad("expected 'descr', 'fortran_order' and 'shape' in the header, got a dict without them");
    }
  }

 private:
  [[noreturn]] void bad(const std::string& m) { fail(op_, file_, m); }
  char peek() const { return i_ < t_.size() ? t_[i_] : '\0'; }
  void ws() {
    while (i_ < t_.size() && (t_[i_] == ' ' || t_[i_] == '\t' || t_[i_] == '\n' || t_[i_] == '\r')) ++i_;
  }
  void expect(char c) {
    if (peek() != c) bad(std::string("malformed header: expected '") + c + "' at position " + std::to_string(i_));
    ++i_;
  }
  void dup(bool& seen, const std::string& key) {
    if (seen) bad("header has '" + key + "' twice");
    seen = true;
  }
  std::string str() {
    char q = peek();
    if (q != '\'' && q != '"') bad("malformed header: expected a quoted string at position " + std::to_string(i_));
    size_t end = t_.find(q, i_ + 1);
    if (end == std::string_view::npos) bad("malformed header: unterminated string");
    std::string s(t_.substr(i_ + 1, end - i_ - 1));
    i_ = end + 1;
    return s;
  }
  bool boolean() {
    if (t_.substr(i_, 4) == "True") {
      i_ += 4;
      return true;
    }
    if (t_.substr(i_, 5) == "False") {
      i_ += 5;
      return false;
    }
    bad("malformed header: expected True or False for 'fortran_order'");
  }
  std::vector<uint64_t> tuple() {
    std::vector<uint64_t> dims;
    expect('(');
    for (;;) {
      ws();
      if (peek() == ')') break;
      if (peek() < '0' || peek() > '9') bad("malformed header: expected a non-negative integer in 'shape'");
      uint64_t v = 0;
      while (peek() >= '0' && peek() <= '9') {
        if (v > (UINT64_MAX - 9) / 10) bad("a dimension in 'shape' overflows");
        v = v * 10 + static_cast<uint64_t>(peek() - '0');
        ++i_;
      }
      if (peek() == 'L') ++i_;  // Python 2 longs
      dims.push_back(v);
      if (dims.size() > kMaxDims) {
        bad("expected at most " + std::to_string(kMaxDims) + " dimensions in 'shape', got more");
      }
      ws();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      if (peek() != ')') bad("malformed header: expected ',' or ')' in 'shape'");
    }
    ++i_;
    return dims;
  }

  std::string_view t_;
  const char* op_;
  const std::string& file_;
  size_t i_ = 0;
};

void byteswap(uint8_t* p, size_t nbytes, size_t width) {
  for (size_t i = 0; i + width <= nbytes; i += width) std::reverse(p + i, p + i + width);
}

std::string descr_of(Dtype d) {
  switch (d) {
    case Dtype::Val::bool_: return "|b1";
    case Dtype::Val::uint8: return "|u1";
    case Dtype::Val::uint16: return "<u2";
    case Dtype::Val::uint32: return "<u4";
    case Dtype::Val::uint64: return "<u8";
    case Dtype::Val::int8: return "|i1";
    case Dtype::Val::int16: return "<i2";
    case Dtype::Val::int32: return "<i4";
    case Dtype::Val::int64: return "<i8";
    case Dtype::Val::float16: return "<f2";
    case Dtype::Val::float32: return "<f4";
    case Dtype::Val::float64: return "<f8";
    case Dtype::Val::bfloat16: return "<V2";  // no NumPy code; MLX writes (and reads) raw 2-byte voids
    case Dtype::Val::complex64: return "<c8";
  }
  return "";
}

}  // namespace

array load_npy_bytes(const Bytes& b, const std::string& file, const char* op) {
  Reader r(b, op, file);
  const uint8_t* magic = r.take(6, "the .npy magic");
  if (std::memcmp(magic, "\x93NUMPY", 6) != 0) r.fail("expected the .npy magic \\x93NUMPY, got other bytes");
  uint64_t major = r.uint(1, "the .npy version");
  r.uint(1, "the .npy version");
  if (major < 1 || major > 3) r.fail("expected .npy format version 1, 2 or 3, got " + std::to_string(major));
  size_t hlen = r.uint(major == 1 ? 2 : 4, "the header length");
  const uint8_t* htext = r.take(hlen, "the header");
  std::string descr;
  bool fortran = false;
  std::vector<uint64_t> dims;
  HeaderParser(std::string_view(reinterpret_cast<const char*>(htext), hlen), op, file).parse(&descr, &fortran, &dims);
  NpyDescr d;
  if (!parse_descr(descr, &d)) r.fail("unsupported dtype '" + descr + "'");
  size_t nbytes = 0;
  Shape shape = checked_shape(dims, d.dtype, &nbytes, op, file, "the array");
  if (r.remaining() != nbytes) {
    r.fail("expected " + std::to_string(nbytes) + " bytes of data for the header's shape and dtype, got " +
           std::to_string(r.remaining()));
  }
  bool transposed = fortran && shape.size() > 1;
  if (transposed) std::reverse(shape.begin(), shape.end());
  array out = [&] {
    if (!d.swap) return array_from_bytes(b, r.pos(), nbytes, shape, d.dtype);
    array a = new_array(shape, d.dtype);
    std::memcpy(a.data<uint8_t>(), b.data + r.pos(), nbytes);
    // complex64 is two float32s: swap each half.
    byteswap(a.data<uint8_t>(), nbytes, d.dtype == complex64 ? 4 : d.dtype.size);
    return a;
  }();
  return transposed ? transpose(out) : out;
}

std::string npy_header(const array& a, const char* op) {
  std::string dict = "{'descr': '" + descr_of(a.dtype()) + "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < a.ndim(); ++i) {
    dict += std::to_string(a.shape()[i]);
    dict += a.ndim() == 1 ? "," : (i + 1 < a.ndim() ? ", " : "");
  }
  dict += "), }";
  // Magic (6) + version (2) + length (2 or 4) + dict + padding + '\n' is a multiple of 64.
  size_t len_bytes = 2;
  size_t total = (10 + dict.size() + 1 + 63) / 64 * 64;
  if (total - 10 > 65535) {
    len_bytes = 4;
    total = (12 + dict.size() + 1 + 63) / 64 * 64;
  }
  size_t hlen = total - 6 - 2 - len_bytes;
  dict.append(hlen - dict.size() - 1, ' ');
  dict += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(len_bytes == 2 ? 1 : 2);
  out += '\0';
  for (size_t i = 0; i < len_bytes; ++i) out += static_cast<char>((hlen >> (8 * i)) & 0xff);
  return out + dict;
}

}  // namespace io

array load(const std::string& file, StreamOrDevice s) {
  to_stream(s);  // validates the device, as every op does
  return io::load_npy_bytes(io::map_file(file, "load"), file, "load");
}

void save(std::string file, const array& a) {
  file = io::with_extension(std::move(file), ".npy");
  array x = a;
  x.eval();
  auto header = io::npy_header(x, "save");
  io::AtomicFile f(file, "save");
  f.write(header.data(), header.size());
  io::stream_array(x, [&](const void* p, size_t n) { f.write(p, n); });
  f.commit();
}

}  // namespace mica
