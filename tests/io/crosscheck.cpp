// The C++ half of the io_crosscheck test (crosscheck.py drives it):
//   io_crosscheck_tool write <dir>   writes .npy/.npz/.safetensors/.gguf files with mica, filled
//                                    with the fixture values (tests/io/make_fixtures.py: vals)
//   io_crosscheck_tool read <dir>    loads the files listed in <dir>/manifest.txt (written by
//                                    NumPy, safetensors, gguf and MLX) and compares their values
// Manifest lines: <format> <file> <key> <dtype> <dims...>   (key "-" for .npy files)
#include <iostream>
#include <map>
#include <sstream>

#include "io/io_test_util.h"

using namespace mica;
using namespace mica::iotest;

namespace {

// The layouts written: c (contiguous), t (a transposed view), s (0-d), e (empty).
array layout(Dtype d, char l) {
  switch (l) {
    case 'c': return fixture_array({3, 4}, d);
    case 't': return transpose(fixture_array({4, 3}, d));
    case 's': return fixture_array({}, d);
    default: return fixture_array({0, 2}, d);
  }
}

std::unordered_map<std::string, array> named(const std::vector<Dtype>& dtypes) {
  std::unordered_map<std::string, array> m;
  for (Dtype d : dtypes) {
    for (char l : {'c', 't', 's', 'e'}) m.emplace(dtype_to_string(d) + "_" + l, layout(d, l));
  }
  return m;
}
// The gguf package (0.19) cannot read a 0-d BF16 tensor (mica and MLX write 0-d tensors with
// no dimensions): all.gguf leaves that one out.
std::unordered_map<std::string, array> named_gguf(const std::vector<Dtype>& dtypes) {
  auto m = named(dtypes);
  m.erase("bfloat16_s");
  return m;
}

std::unordered_map<std::string, GGUFMetaData> gguf_meta(bool with_f64) {
  std::unordered_map<std::string, GGUFMetaData> m = {
      {"u8", array(7, uint8)},         {"i8", array(-7, int8)},          {"u16", array(700, uint16)},
      {"i16", array(-700, int16)},     {"u32", array(70000, uint32)},    {"i32", array(-70000, int32)},
      {"f32", array(1.5f)},            {"bool", array(true)},            {"u64", array(uint64_t{1} << 40, uint64)},
      {"i64", array(-(int64_t{1} << 40), int64)},
      {"str", std::string("hello")},   {"strs", std::vector<std::string>{"a", "bc"}},
      {"arr_i32", array({1, -2, 3}, int32)}, {"arr_f32", array({0.5f, 1.5f})}, {"arr_bool", array({true, false})},
  };
  if (with_f64) m.emplace("f64", array(2.5, float64));
  return m;
}

int write(const std::string& dir) {
  std::filesystem::create_directories(dir);
  for (auto& [name, a] : named({all_dtypes, all_dtypes + Dtype::num_types})) save(dir + "/" + name + ".npy", a);
  savez(dir + "/stored.npz", named({float32, int64, bool_, complex64, float16}));
  savez_compressed(dir + "/compressed.npz", named({float32, int64, bool_, complex64, float16}));
  savez(dir + "/positional.npz", std::vector<array>{layout(int32, 'c'), layout(float32, 't')});
  // MLX reads neither float64 from safetensors nor bfloat16 in NumPy: three files.
  save_safetensors(dir + "/all.safetensors", named({all_dtypes, all_dtypes + Dtype::num_types}),
                   {{"a", "b"}, {"x", "y"}});
  std::vector<Dtype> no_bf16, no_f64;
  for (Dtype d : all_dtypes) {
    if (d != bfloat16) no_bf16.push_back(d);
    if (d != float64) no_f64.push_back(d);
  }
  save_safetensors(dir + "/numpy.safetensors", named(no_bf16), {{"k", "v"}});
  save_safetensors(dir + "/mlx.safetensors", named(no_f64), {{"k", "v"}});
  save_gguf(dir + "/all.gguf", named_gguf({float32, float16, bfloat16, float64, int8, int16, int32, int64}), gguf_meta(true));
  // What MLX 0.32 reads: no float64 metadata (it crashes), no 64-bit or bfloat16 tensors.
  save_gguf(dir + "/mlx.gguf", named({float32, float16, int8, int16, int32}), gguf_meta(false));
  return 0;
}

Dtype parse_dtype(const std::string& s) {
  for (Dtype d : all_dtypes) {
    if (dtype_to_string(d) == s) return d;
  }
  throw std::invalid_argument("unknown dtype " + s);
}

int read(const std::string& dir) {
  std::ifstream in(dir + "/manifest.txt");
  std::map<std::string, std::unordered_map<std::string, array>> cache;
  int bad = 0, checked = 0;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string format, file, key, dtype;
    ls >> format >> file >> key >> dtype;
    Shape shape;
    for (int d; ls >> d;) shape.push_back(d);
    std::string path = dir + "/" + file;
    try {
      array got = [&] {
        if (format == "npy") return load(path);
        if (!cache.count(path)) {
          if (format == "npz") cache[path] = load_npz(path);
          else if (format == "safetensors") cache[path] = load_safetensors(path).first;
          else cache[path] = load_gguf(path).first;
        }
        return cache[path].at(key);
      }();
      auto r = same(got, fixture_array(shape, parse_dtype(dtype)));
      if (!r) {
        std::cout << "MISMATCH " << line << ": " << r.message() << "\n";
        ++bad;
      }
    } catch (const std::exception& e) {
      std::cout << "ERROR " << line << ": " << e.what() << "\n";
      ++bad;
    }
    ++checked;
  }
  std::cout << "mica read " << checked << " arrays written by the Python tools, " << bad << " wrong\n";
  return bad || checked == 0 ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: io_crosscheck_tool write|read <dir>\n";
    return 2;
  }
  std::string mode = argv[1];
  try {
    if (mode == "write") return write(argv[2]);
    if (mode == "read") return read(argv[2]);
  } catch (const std::exception& e) {
    std::cerr << "io_crosscheck_tool: " << e.what() << "\n";
    return 1;
  }
  std::cerr << "unknown mode " << mode << "\n";
  return 2;
}
