// .gguf files (versions 2 and 3), read and written here with every count, length and offset
// checked against the file. Layout: magic "GGUF", version, tensor count, metadata count,
// metadata (key, type, value), tensor infos (name, dims innermost first, type, offset), padding
// to the alignment, tensor data.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include "mica/io.h"
#include "mica/io/file.h"
#include "mica/transforms.h"

namespace mica {
namespace io {

namespace {

constexpr const char* kLoad = "load_gguf";
constexpr const char* kSave = "save_gguf";
constexpr uint32_t kDefaultAlignment = 32;
constexpr int kMaxNesting = 8;  // arrays of arrays deeper than this are not real metadata

enum ValueType : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
  kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};

// Tensor types (ggml_type) mica reads; the quantized ones hold blocks of 32 values.
enum TensorType : uint32_t {
  kTF32 = 0, kTF16 = 1, kTQ4_0 = 2, kTQ4_1 = 3, kTQ8_0 = 8,
  kTI8 = 24, kTI16 = 25, kTI32 = 26, kTI64 = 27, kTF64 = 28, kTBF16 = 30,
};
constexpr size_t kBlock = 32;

bool scalar_dtype(uint32_t t, Dtype* d) {
  switch (t) {
    case kU8: *d = uint8; return true;
    case kI8: *d = int8; return true;
    case kU16: *d = uint16; return true;
    case kI16: *d = int16; return true;
    case kU32: *d = uint32; return true;
    case kI32: *d = int32; return true;
    case kF32: *d = float32; return true;
    case kBool: *d = bool_; return true;
    case kU64: *d = uint64; return true;
    case kI64: *d = int64; return true;
    case kF64: *d = float64; return true;
    default: return false;
  }
}

bool value_type_of(Dtype d, uint32_t* t) {
  switch (d) {
    case Dtype::Val::uint8: *t = kU8; return true;
    case Dtype::Val::int8: *t = kI8; return true;
    case Dtype::Val::uint16: *t = kU16; return true;
    case Dtype::Val::int16: *t = kI16; return true;
    case Dtype::Val::uint32: *t = kU32; return true;
    case Dtype::Val::int32: *t = kI32; return true;
    case Dtype::Val::float32: *t = kF32; return true;
    case Dtype::Val::bool_: *t = kBool; return true;
    case Dtype::Val::uint64: *t = kU64; return true;
    case Dtype::Val::int64: *t = kI64; return true;
    case Dtype::Val::float64: *t = kF64; return true;
    default: return false;
  }
}

bool tensor_dtype(uint32_t t, Dtype* d) {
  switch (t) {
    case kTF32: *d = float32; return true;
    case kTF16: *d = float16; return true;
    case kTBF16: *d = bfloat16; return true;
    case kTF64: *d = float64; return true;
    case kTI8: *d = int8; return true;
    case kTI16: *d = int16; return true;
    case kTI32: *d = int32; return true;
    case kTI64: *d = int64; return true;
    default: return false;
  }
}

bool tensor_type_of(Dtype d, uint32_t* t) {
  switch (d) {
    case Dtype::Val::float32: *t = kTF32; return true;
    case Dtype::Val::float16: *t = kTF16; return true;
    case Dtype::Val::bfloat16: *t = kTBF16; return true;
    case Dtype::Val::float64: *t = kTF64; return true;
    case Dtype::Val::int8: *t = kTI8; return true;
    case Dtype::Val::int16: *t = kTI16; return true;
    case Dtype::Val::int32: *t = kTI32; return true;
    case Dtype::Val::int64: *t = kTI64; return true;
    default: return false;
  }
}

// ggml's names for its tensor types, for error messages.
std::string type_name(uint32_t t) {
  static const char* names[] = {"F32", "F16", "Q4_0", "Q4_1", "Q4_2", "Q4_3", "Q5_0", "Q5_1", "Q8_0", "Q8_1",
                                "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS",
                                "IQ1_S", "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS", "I8", "I16", "I32", "I64", "F64",
                                "IQ1_M", "BF16"};
  std::string n = std::to_string(t);
  if (t < sizeof(names) / sizeof(names[0])) n = std::string(names[t]) + " (" + n + ")";
  return n;
}

// Bytes per block of 32 values of a quantized type (0 if not quantized).
size_t quant_block_bytes(uint32_t t) {
  switch (t) {
    case kTQ4_0: return 18;  // f16 d, 16 bytes of 4-bit values
    case kTQ4_1: return 20;  // f16 d, f16 m, 16 bytes of 4-bit values
    case kTQ8_0: return 34;  // f16 d, 32 int8 values
    default: return 0;
  }
}

class GGUFReader {
 public:
  GGUFReader(const Bytes& b, const std::string& file) : b_(b), file_(file), r_(b_, kLoad, file_) {}

  GGUFLoad read() {
    const uint8_t* magic = r_.take(4, "the GGUF magic");
    if (std::memcmp(magic, "GGUF", 4) != 0) r_.fail("expected the magic GGUF, got other bytes");
    uint32_t version = static_cast<uint32_t>(r_.uint(4, "the version"));
    if (version == 0x02000000u || version == 0x03000000u) r_.fail("big-endian GGUF files are not supported");
    if (version != 2 && version != 3) r_.fail("expected GGUF version 2 or 3, got " + std::to_string(version));
    uint64_t n_tensors = r_.uint(8, "the tensor count");
    uint64_t n_kv = r_.uint(8, "the metadata count");
    // Each entry takes at least 8 + 4 + 1 bytes (a key length, a type, a value): bound the counts
    // by the file before reserving anything.
    if (n_kv > r_.remaining() / 13) r_.fail("metadata count " + std::to_string(n_kv) + " exceeds what the file can hold");
    if (n_tensors > r_.remaining() / 24) {
      r_.fail("tensor count " + std::to_string(n_tensors) + " exceeds what the file can hold");
    }
    GGUFLoad out;
    auto& meta = out.second;
    uint64_t alignment = kDefaultAlignment;
    for (uint64_t i = 0; i < n_kv; ++i) {
      std::string key = string("a metadata key");
      uint32_t type = static_cast<uint32_t>(r_.uint(4, "a metadata type"));
      if (key == "general.alignment") {
        if (type != kU32) r_.fail("expected general.alignment to be a uint32");
        size_t at = r_.pos();
        alignment = r_.uint(4, "general.alignment");
        r_.seek(at);
        if (alignment == 0 || (alignment & (alignment - 1)) != 0 || alignment > (1u << 30)) {
          r_.fail("expected general.alignment to be a power of two up to 2^30, got " + std::to_string(alignment));
        }
      }
      GGUFMetaData v = value(type, 0, key);
      if (!meta.emplace(key, std::move(v)).second) r_.fail("metadata key '" + key + "' appears twice");
    }

    struct Info {
      std::string name;
      std::vector<uint64_t> ne;  // innermost first
      uint32_t type;
      uint64_t offset;
      uint64_t nbytes;
    };
    std::vector<Info> infos;
    infos.reserve(static_cast<size_t>(n_tensors));
    for (uint64_t i = 0; i < n_tensors; ++i) {
      Info t;
      t.name = string("a tensor name");
      uint64_t nd = r_.uint(4, "a tensor's dimension count");
      if (nd > kMaxDims) {
        r_.fail("tensor '" + t.name + "': expected at most " + std::to_string(kMaxDims) + " dimensions, got " +
                std::to_string(nd));
      }
      for (uint64_t d = 0; d < nd; ++d) t.ne.push_back(r_.uint(8, "a tensor dimension"));
      t.type = static_cast<uint32_t>(r_.uint(4, "a tensor type"));
      t.offset = r_.uint(8, "a tensor offset");
      t.nbytes = tensor_bytes(t.name, t.ne, t.type);
      infos.push_back(std::move(t));
    }
    uint64_t data_start = (r_.pos() + alignment - 1) / alignment * alignment;
    if (data_start > b_.size) {
      if (!infos.empty()) r_.fail("truncated: the tensor data section starts past the end of the file");
      data_start = b_.size;
    }
    uint64_t data_size = b_.size - data_start;
    std::vector<const Info*> by_offset;
    for (auto& t : infos) {
      if (t.offset > data_size || t.nbytes > data_size - t.offset) {
        r_.fail("tensor '" + t.name + "': its " + std::to_string(t.nbytes) + " bytes at offset " +
                std::to_string(t.offset) + " run past the data section (" + std::to_string(data_size) + " bytes)");
      }
      if (t.nbytes) by_offset.push_back(&t);
    }
    std::sort(by_offset.begin(), by_offset.end(), [](auto* x, auto* y) { return x->offset < y->offset; });
    for (size_t i = 1; i < by_offset.size(); ++i) {
      if (by_offset[i]->offset < by_offset[i - 1]->offset + by_offset[i - 1]->nbytes) {
        r_.fail("tensors '" + by_offset[i - 1]->name + "' and '" + by_offset[i]->name + "' overlap");
      }
    }
    auto& arrays = out.first;
    auto put = [&](const std::string& name, array a) {
      if (!arrays.emplace(name, std::move(a)).second) r_.fail("tensor '" + name + "' appears twice");
    };
    for (auto& t : infos) {
      Shape shape(t.ne.rbegin(), t.ne.rend());  // dims were checked by tensor_bytes
      size_t at = static_cast<size_t>(data_start + t.offset);
      Dtype d = float32;
      if (tensor_dtype(t.type, &d)) {
        put(t.name, array_from_bytes(b_, at, static_cast<size_t>(t.nbytes), std::move(shape), d));
      } else {
        auto q = dequantize_layout(t.type, b_.data + at, shape);
        put(t.name, std::move(q[0]));
        put(t.name + ".scales", std::move(q[1]));
        put(t.name + ".biases", std::move(q[2]));
      }
    }
    return out;
  }

 private:
  std::string string(const char* what) {
    uint64_t n = r_.uint(8, what);
    r_.need(n, what);
    const uint8_t* p = r_.take(static_cast<size_t>(n), what);
    return std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
  }

  GGUFMetaData value(uint32_t type, int depth, const std::string& key) {
    Dtype d = float32;
    if (scalar_dtype(type, &d)) {
      const uint8_t* p = r_.take(d.size, "a metadata value");
      return array_from_bytes(Bytes{p, d.size, nullptr}, 0, d.size, Shape{}, d);
    }
    if (type == kString) return string("a metadata string");
    if (type != kArray) r_.fail("metadata '" + key + "': unknown value type " + std::to_string(type));
    if (depth >= kMaxNesting) r_.fail("metadata '" + key + "': arrays nested too deeply");
    uint32_t et = static_cast<uint32_t>(r_.uint(4, "an array element type"));
    uint64_t n = r_.uint(8, "an array length");
    if (scalar_dtype(et, &d)) {
      size_t nbytes = 0;
      if (n > r_.remaining() || !mul_ok(static_cast<size_t>(n), d.size, &nbytes) || nbytes > r_.remaining()) {
        r_.fail("metadata '" + key + "': array of " + std::to_string(n) + " values runs past the end of the file");
      }
      if (n > static_cast<uint64_t>(INT32_MAX)) r_.fail("metadata '" + key + "': array too long");
      size_t at = r_.pos();
      r_.take(nbytes, "an array");
      // Metadata arrays are small: copy them (the Bytes has no owner).
      return array_from_bytes(Bytes{b_.data, b_.size, nullptr}, at, nbytes, Shape{static_cast<int32_t>(n)}, d);
    }
    if (et == kString) {
      if (n > r_.remaining() / 8) r_.fail("metadata '" + key + "': string array longer than the file");
      std::vector<std::string> v;
      v.reserve(static_cast<size_t>(n));
      for (uint64_t i = 0; i < n; ++i) v.push_back(string("a metadata string"));
      return v;
    }
    if (et == kArray) {
      // Parsed (to find where the value ends) but not represented.
      if (n > r_.remaining() / 12) r_.fail("metadata '" + key + "': nested array longer than the file");
      for (uint64_t i = 0; i < n; ++i) value(kArray, depth + 1, key);
      return std::monostate{};
    }
    r_.fail("metadata '" + key + "': unknown array element type " + std::to_string(et));
  }

  uint64_t tensor_bytes(const std::string& name, const std::vector<uint64_t>& ne, uint32_t type) {
    std::string what = "tensor '" + name + "'";
    Dtype d = float32;
    size_t nbytes = 0;
    if (tensor_dtype(type, &d)) {
      checked_shape(std::vector<uint64_t>(ne.rbegin(), ne.rend()), d, &nbytes, kLoad, file_, what);
      return nbytes;
    }
    size_t block = quant_block_bytes(type);
    if (!block) r_.fail(what + ": unsupported tensor type " + type_name(type));
    if (ne.empty() || ne[0] % kBlock != 0) {
      r_.fail(what + ": expected a quantized tensor's inner dimension to be a multiple of 32, got " +
              (ne.empty() ? std::string("none") : std::to_string(ne[0])));
    }
    size_t count = 0;
    checked_shape(std::vector<uint64_t>(ne.rbegin(), ne.rend()), uint8, &count, kLoad, file_, what);
    if (!mul_ok(count / kBlock, block, &nbytes)) r_.fail(what + ": byte size overflows");
    return nbytes;
  }

  // MLX's layout for ggml's block formats: value = scale * q + bias per group of 32, with q
  // packed little-end first into uint32 words (8 per word at 4 bits, 4 per word at 8 bits).
  std::vector<array> dequantize_layout(uint32_t type, const uint8_t* src, const Shape& shape) {
    int bits = type == kTQ8_0 ? 8 : 4;
    Shape wshape = shape, sshape = shape;
    wshape.back() = static_cast<int32_t>(static_cast<int64_t>(shape.back()) * bits / 32);
    sshape.back() = shape.back() / static_cast<int32_t>(kBlock);
    array w = new_array(wshape, uint32);
    array scales = new_array(sshape, float16);
    array biases = new_array(sshape, float16);
    size_t blocks = scales.size();
    auto* wp = w.data<uint8_t>();  // filled byte-wise: little-endian words
    auto* sp = scales.data<float16_t>();
    auto* bp = biases.data<float16_t>();
    size_t block_bytes = quant_block_bytes(type);
    for (size_t i = 0; i < blocks; ++i) {
      const uint8_t* blk = src + i * block_bytes;
      float16_t dscale;
      std::memcpy(&dscale, blk, 2);
      sp[i] = dscale;
      if (type == kTQ4_0) {
        // q - 8 in ggml: value = d * q + (-8 d).
        bp[i] = static_cast<float16_t>(-8.0f * static_cast<float>(dscale));
        const uint8_t* qs = blk + 2;
        uint8_t* out = wp + i * 16;
        // ggml: element j < 16 is qs[j] & 15, element j + 16 is qs[j] >> 4.
        for (int j = 0; j < 16; j += 2) {
          out[j / 2] = static_cast<uint8_t>((qs[j] & 15) | ((qs[j + 1] & 15) << 4));
          out[8 + j / 2] = static_cast<uint8_t>((qs[j] >> 4) | (qs[j + 1] & 0xf0));
        }
      } else if (type == kTQ4_1) {
        std::memcpy(&bp[i], blk + 2, 2);  // m: value = d * q + m
        const uint8_t* qs = blk + 4;
        uint8_t* out = wp + i * 16;
        for (int j = 0; j < 16; j += 2) {
          out[j / 2] = static_cast<uint8_t>((qs[j] & 15) | ((qs[j + 1] & 15) << 4));
          out[8 + j / 2] = static_cast<uint8_t>((qs[j] >> 4) | (qs[j + 1] & 0xf0));
        }
      } else {
        // int8 q: value = d * (q + 128) + (-128 d).
        bp[i] = static_cast<float16_t>(-128.0f * static_cast<float>(dscale));
        const uint8_t* qs = blk + 2;
        uint8_t* out = wp + i * 32;
        for (int j = 0; j < 32; ++j) out[j] = static_cast<uint8_t>(qs[j] ^ 0x80);
      }
    }
    return {w, scales, biases};
  }

  const Bytes& b_;
  const std::string& file_;
  Reader r_;
};

// Writer helpers: every value little-endian.
struct GGUFWriter {
  AtomicFile& f;
  void u32(uint32_t v) { le(v, 4); }
  void u64(uint64_t v) { le(v, 8); }
  void le(uint64_t v, int n) {
    uint8_t b[8];
    for (int i = 0; i < n; ++i) b[i] = static_cast<uint8_t>((v >> (8 * i)) & 0xff);
    f.write(b, static_cast<size_t>(n));
  }
  void str(const std::string& s) {
    u64(s.size());
    f.write(s.data(), s.size());
  }
};

}  // namespace

GGUFLoad load_gguf_bytes(const Bytes& b, const std::string& file) { return GGUFReader(b, file).read(); }

}  // namespace io

GGUFLoad load_gguf(const std::string& file, StreamOrDevice s) {
  to_stream(s);
  return io::load_gguf_bytes(io::map_file(file, io::kLoad), file);
}

void save_gguf(std::string file, const std::unordered_map<std::string, array>& arrays,
               const std::unordered_map<std::string, GGUFMetaData>& metadata) {
  using namespace io;
  file = with_extension(std::move(file), ".gguf");
  auto bad = [](const std::string& m) { throw std::invalid_argument("[save_gguf] " + m); };
  // Validate everything before evaluating or writing.
  std::map<std::string, const array*> tensors;
  for (auto& [name, a] : arrays) {
    uint32_t t;
    if (!tensor_type_of(a.dtype(), &t)) {
      bad("expected arrays of float32, float16, bfloat16, float64, int8, int16, int32 or int64, got " +
          dtype_to_string(a.dtype()) + " for '" + name + "'.");
    }
    if (a.ndim() > kMaxDims) bad("expected at most " + std::to_string(kMaxDims) + " dimensions, got " + std::to_string(a.ndim()) + " for '" + name + "'.");
    tensors.emplace(name, &a);
  }
  uint64_t alignment = kDefaultAlignment;
  std::map<std::string, const GGUFMetaData*> meta;
  for (auto& [key, v] : metadata) {
    if (std::holds_alternative<std::monostate>(v)) bad("expected a value for metadata '" + key + "', got none.");
    if (auto* a = std::get_if<array>(&v)) {
      uint32_t t;
      if (!value_type_of(a->dtype(), &t)) {
        bad("expected metadata arrays of integer, bool, float32 or float64 type, got " + dtype_to_string(a->dtype()) +
            " for '" + key + "'.");
      }
      if (a->ndim() > 1) bad("expected 0-d or 1-d metadata arrays, got " + std::to_string(a->ndim()) + " dimensions for '" + key + "'.");
      if (key == "general.alignment") {
        uint64_t al = a->ndim() == 0 && a->dtype() == uint32 ? a->item<uint32_t>() : 0;
        if (al == 0 || (al & (al - 1)) != 0 || al > (1u << 30)) {
          bad("expected general.alignment to be a uint32 power of two up to 2^30.");
        }
        alignment = al;
      }
    } else if (key == "general.alignment") {
      bad("expected general.alignment to be a uint32 power of two.");
    }
    meta.emplace(key, &v);
  }
  std::vector<array> all;
  for (auto& [k, a] : arrays) all.push_back(a);
  for (auto& [k, v] : metadata) {
    if (auto* a = std::get_if<array>(&v)) all.push_back(*a);
  }
  if (!all.empty()) eval(std::move(all));

  AtomicFile f(file, kSave);
  GGUFWriter w{f};
  f.write("GGUF", 4);
  w.u32(3);
  w.u64(tensors.size());
  w.u64(meta.size());
  for (auto& [key, v] : meta) {
    w.str(key);
    if (auto* s = std::get_if<std::string>(v)) {
      w.u32(kString);
      w.str(*s);
    } else if (auto* list = std::get_if<std::vector<std::string>>(v)) {
      w.u32(kArray);
      w.u32(kString);
      w.u64(list->size());
      for (auto& s : *list) w.str(s);
    } else {
      const array& a = std::get<array>(*v);
      uint32_t t = 0;
      value_type_of(a.dtype(), &t);
      if (a.ndim() == 1) {
        w.u32(kArray);
        w.u32(t);
        w.u64(a.size());
      } else {
        w.u32(t);
      }
      if (a.dtype() == bool_) {
        // One byte each, 0 or 1.
        stream_array(a, [&](const void* p, size_t n) {
          for (size_t i = 0; i < n; ++i) {
            uint8_t x = static_cast<const uint8_t*>(p)[i] != 0;
            f.write(&x, 1);
          }
        });
      } else {
        stream_array(a, [&](const void* p, size_t n) { f.write(p, n); });
      }
    }
  }
  uint64_t offset = 0;
  std::vector<uint64_t> offsets;
  for (auto& [name, a] : tensors) {
    w.str(name);
    w.u32(static_cast<uint32_t>(a->ndim()));
    for (size_t d = a->ndim(); d-- > 0;) w.u64(static_cast<uint64_t>(a->shape()[d]));
    uint32_t t = 0;
    tensor_type_of(a->dtype(), &t);
    w.u32(t);
    w.u64(offset);
    offsets.push_back(offset);
    offset = (offset + a->nbytes() + alignment - 1) / alignment * alignment;
  }
  f.pad((alignment - f.written() % alignment) % alignment);
  uint64_t data_start = f.written();
  size_t i = 0;
  for (auto& [name, a] : tensors) {
    f.pad(data_start + offsets[i++] - f.written());
    stream_array(*a, [&](const void* p, size_t n) { f.write(p, n); });
  }
  f.commit();
}

}  // namespace mica
