// .safetensors files: an 8-byte little-endian header length, a JSON header (parsed with
// nlohmann-json), then the tensors' bytes.
#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "mica/io.h"
#include "mica/io/file.h"

namespace mica {
namespace io {

namespace {

constexpr const char* kLoad = "load_safetensors";
constexpr const char* kSave = "save_safetensors";
// The reference implementation's limit: a larger header is not a real file.
constexpr uint64_t kMaxHeader = 100'000'000;

struct DtypeName {
  const char* name;
  Dtype dtype;
};
// F8_E4M3 and F8_E8M0 load as their raw uint8 bytes, as MLX does.
constexpr DtypeName kDtypes[] = {
    {"BOOL", bool_},   {"U8", uint8},     {"I8", int8},       {"U16", uint16},   {"I16", int16},
    {"U32", uint32},   {"I32", int32},    {"U64", uint64},    {"I64", int64},    {"F16", float16},
    {"BF16", bfloat16}, {"F32", float32}, {"F64", float64},   {"C64", complex64}, {"F8_E4M3", uint8},
    {"F8_E8M0", uint8},
};

const char* name_of(Dtype d) {
  for (auto& e : kDtypes) {
    if (e.dtype == d) return e.name;  // uint8 hits "U8" before the F8 names
  }
  return "";
}

using json = nlohmann::json;

// Deepest nesting a valid header has: root -> tensor -> shape list.
constexpr int kMaxDepth = 3;

struct TooDeep {};

uint64_t get_uint(const json& v, const std::string& file, const std::string& what) {
  if (!v.is_number_unsigned()) fail(kLoad, file, what + ": expected a non-negative integer, got " + v.dump());
  return v.get<uint64_t>();
}

}  // namespace

SafetensorsLoad load_safetensors_bytes(const Bytes& b, const std::string& file) {
  if (b.size < 8) fail(kLoad, file, "expected at least 8 bytes (the header length), got " + std::to_string(b.size));
  uint64_t hlen = 0;
  for (int i = 0; i < 8; ++i) hlen |= static_cast<uint64_t>(b.data[i]) << (8 * i);
  if (hlen > b.size - 8) {
    fail(kLoad, file, "header length " + std::to_string(hlen) + " runs past the end of the file (" +
                          std::to_string(b.size) + " bytes)");
  }
  if (hlen > kMaxHeader) fail(kLoad, file, "header length " + std::to_string(hlen) + " exceeds 100 MB");
  const char* text = reinterpret_cast<const char*>(b.data + 8);
  json header;
  try {
    // The callback bounds the nesting before the parser builds anything deep.
    header = json::parse(text, text + hlen, [](int depth, json::parse_event_t, json&) {
      if (depth > kMaxDepth) throw TooDeep{};
      return true;
    });
  } catch (const TooDeep&) {
    fail(kLoad, file, "header nests deeper than a safetensors header can");
  } catch (const json::exception& e) {
    fail(kLoad, file, std::string("header is not valid JSON (") + e.what() + ")");
  }
  if (!header.is_object()) fail(kLoad, file, "expected a JSON object as the header, got " + std::string(header.type_name()));
  const uint64_t data_start = 8 + hlen;
  const uint64_t data_size = b.size - data_start;

  struct Entry {
    std::string name;
    Dtype dtype;
    Shape shape;
    uint64_t begin, end;
  };
  std::vector<Entry> entries;
  std::unordered_map<std::string, std::string> metadata;
  for (auto& [name, info] : header.items()) {
    if (name == "__metadata__") {
      if (info.is_null()) continue;  // MLX writes null when there is no metadata
      if (!info.is_object()) fail(kLoad, file, "expected __metadata__ to be an object of strings");
      for (auto& [k, v] : info.items()) {
        if (!v.is_string()) fail(kLoad, file, "metadata '" + k + "': expected a string, got " + v.dump());
        metadata.emplace(k, v.get<std::string>());
      }
      continue;
    }
    std::string what = "tensor '" + name + "'";
    if (!info.is_object()) fail(kLoad, file, what + ": expected an object, got " + info.dump());
    auto dt = info.find("dtype");
    auto sh = info.find("shape");
    auto of = info.find("data_offsets");
    if (dt == info.end() || sh == info.end() || of == info.end()) {
      fail(kLoad, file, what + ": expected dtype, shape and data_offsets");
    }
    if (!dt->is_string()) fail(kLoad, file, what + ": expected a string dtype, got " + dt->dump());
    const auto& dname = dt->get_ref<const std::string&>();
    const DtypeName* known = nullptr;
    for (auto& e : kDtypes) {
      if (dname == e.name) known = &e;
    }
    if (!known) fail(kLoad, file, what + ": unsupported dtype " + dname);
    if (!sh->is_array()) fail(kLoad, file, what + ": expected a list as shape, got " + sh->dump());
    std::vector<uint64_t> dims;
    if (sh->size() > kMaxDims) fail(kLoad, file, what + ": too many dimensions (" + std::to_string(sh->size()) + ")");
    for (auto& d : *sh) dims.push_back(get_uint(d, file, what + " shape"));
    size_t nbytes = 0;
    Shape shape = checked_shape(dims, known->dtype, &nbytes, kLoad, file, what);
    if (!of->is_array() || of->size() != 2) fail(kLoad, file, what + ": expected data_offsets [begin, end]");
    uint64_t begin = get_uint((*of)[0], file, what + " data_offsets");
    uint64_t end = get_uint((*of)[1], file, what + " data_offsets");
    if (begin > end || end > data_size) {
      fail(kLoad, file, what + ": data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                            "] lie outside the data section (" + std::to_string(data_size) + " bytes)");
    }
    if (end - begin != nbytes) {
      fail(kLoad, file, what + ": expected " + std::to_string(nbytes) + " bytes for its shape and dtype, got " +
                            std::to_string(end - begin) + " in data_offsets");
    }
    entries.push_back({name, known->dtype, std::move(shape), begin, end});
  }
  // No two tensors may share bytes.
  std::vector<const Entry*> by_offset;
  for (auto& e : entries) {
    if (e.end > e.begin) by_offset.push_back(&e);
  }
  std::sort(by_offset.begin(), by_offset.end(), [](auto* x, auto* y) { return x->begin < y->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    if (by_offset[i]->begin < by_offset[i - 1]->end) {
      fail(kLoad, file, "tensors '" + by_offset[i - 1]->name + "' and '" + by_offset[i]->name + "' overlap");
    }
  }
  std::unordered_map<std::string, array> arrays;
  for (auto& e : entries) {
    arrays.emplace(e.name, array_from_bytes(b, data_start + e.begin, e.end - e.begin, e.shape, e.dtype));
  }
  return {std::move(arrays), std::move(metadata)};
}

}  // namespace io

SafetensorsLoad load_safetensors(const std::string& file, StreamOrDevice s) {
  to_stream(s);
  return io::load_safetensors_bytes(io::map_file(file, io::kLoad), file);
}

void save_safetensors(std::string file, const std::unordered_map<std::string, array>& arrays,
                      const std::unordered_map<std::string, std::string>& metadata) {
  using io::json;
  file = io::with_extension(std::move(file), ".safetensors");
  if (arrays.count("__metadata__")) {
    throw std::invalid_argument("[save_safetensors] expected array names other than __metadata__, got __metadata__.");
  }
  for (auto& [k, v] : arrays) {
    if (k.empty()) throw std::invalid_argument("[save_safetensors] expected non-empty array names, got \"\".");
  }
  io::eval_all(arrays);
  // Widest dtypes first, then by name: every tensor starts aligned for its dtype, so loading
  // can share the file's bytes; offsets are packed without gaps, as the reference layout requires.
  std::vector<std::pair<std::string, array>> order(arrays.begin(), arrays.end());
  std::sort(order.begin(), order.end(), [](auto& x, auto& y) {
    if (x.second.itemsize() != y.second.itemsize()) return x.second.itemsize() > y.second.itemsize();
    return x.first < y.first;
  });
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (auto& [name, a] : order) {
    json shape = json::array();
    for (auto d : a.shape()) shape.push_back(d);
    header[name] = {{"dtype", io::name_of(a.dtype())}, {"shape", shape}, {"data_offsets", {offset, offset + a.nbytes()}}};
    offset += a.nbytes();
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const json::exception& e) {
    throw std::invalid_argument(std::string("[save_safetensors] expected UTF-8 names and metadata, got invalid text (") +
                                e.what() + ").");
  }
  text.append((8 - (8 + text.size()) % 8) % 8, ' ');  // data starts 8-byte aligned
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>((text.size() >> (8 * i)) & 0xff);
  io::AtomicFile f(file, io::kSave);
  f.write(len, 8);
  f.write(text.data(), text.size());
  for (auto& [name, a] : order) io::stream_array(a, [&](const void* p, size_t n) { f.write(p, n); });
  f.commit();
}

}  // namespace mica
