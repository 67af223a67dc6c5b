#include "data.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace mica_train {

namespace fs = std::filesystem;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read corpus file " + p.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw std::runtime_error("error while reading corpus file " + p.string());
  return ss.str();
}

// A fortune file is a list of quotes separated by lines holding a single '%'; the separators
// become blank lines.
std::string strip_fortune_separators(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  std::size_t pos = 0;
  while (pos < s.size()) {
    std::size_t end = s.find('\n', pos);
    if (end == std::string::npos) end = s.size();
    std::string_view line(s.data() + pos, end - pos);
    out.append(line == "%" ? "" : line);
    out.push_back('\n');
    pos = end + 1;
  }
  return out;
}

}  // namespace

std::string read_corpus(const std::string& path) {
  std::error_code ec;
  fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) throw std::runtime_error("corpus " + path + " does not exist");
  std::string text;
  if (fs::is_directory(st)) {
    // A fortune directory: the plain files (not the .dat indexes, not the .u8 links), by name.
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(path, ec)) {
      if (!e.is_regular_file() || e.is_symlink() || e.path().has_extension()) continue;
      files.push_back(e.path());
    }
    if (ec) throw std::runtime_error("cannot list corpus directory " + path + ": " + ec.message());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) text += strip_fortune_separators(read_file(f));
  } else {
    text = read_file(path);
  }
  if (text.empty()) throw std::runtime_error("corpus " + path + " is empty");
  return text;
}

bool is_token_file(const std::string& path) { return fs::path(path).extension() == ".npy"; }

std::vector<int32_t> read_tokens(const std::string& path, int vocab) {
  if (!fs::is_regular_file(path)) throw std::runtime_error("token file " + path + " does not exist");
  mica::array a = mica::load(path, mica::Device::cpu);
  if (a.ndim() != 1 || !(a.dtype() == mica::uint16 || a.dtype() == mica::int32 || a.dtype() == mica::uint32 ||
                         a.dtype() == mica::int64))
    throw std::runtime_error("token file " + path + ": expected a 1-D array of uint16, int32, uint32 or int64 ids, got " +
                             std::to_string(a.ndim()) + "-D " + mica::dtype_to_string(a.dtype()));
  mica::array ids = mica::astype(a, mica::int64, mica::Device::cpu);
  mica::eval(ids);
  const int64_t* p = ids.data<int64_t>();
  std::vector<int32_t> v(ids.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (p[i] < 0 || p[i] >= vocab)
      throw std::runtime_error("token file " + path + ": id " + std::to_string(p[i]) + " at position " +
                               std::to_string(i) + " is outside the vocabulary [0, " + std::to_string(vocab) + ")");
    v[i] = static_cast<int32_t>(p[i]);
  }
  return v;
}

Dataset::Dataset(const std::string& text, int context, double val_fraction)
    : Dataset(std::vector<int32_t>(text.begin(), text.end()), context, val_fraction) {
  for (auto& t : train_) t &= 0xFF;  // bytes, not signed chars
  for (auto& t : val_) t &= 0xFF;
}

Dataset::Dataset(std::vector<int32_t> tokens, int context, double val_fraction) : context_(context) {
  const std::size_t n = tokens.size();
  const std::size_t n_val = static_cast<std::size_t>(static_cast<double>(n) * val_fraction);
  const std::size_t need = static_cast<std::size_t>(context) + 1;
  if (n - n_val < need || n_val < need)
    throw std::runtime_error("corpus too small: " + std::to_string(n) + " tokens, need at least " +
                             std::to_string(static_cast<std::size_t>(double(need) / std::min(val_fraction, 1 - val_fraction)) + 1) +
                             " for a context of " + std::to_string(context));
  val_.assign(tokens.begin() + static_cast<std::ptrdiff_t>(n - n_val), tokens.end());
  tokens.resize(n - n_val);
  train_ = std::move(tokens);
}

mica::array Dataset::windows(const std::vector<int32_t>& part, uint64_t seed, int batch) const {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::size_t> start(0, part.size() - context_ - 1);
  std::vector<int32_t> out(static_cast<std::size_t>(batch) * (context_ + 1));
  for (int b = 0; b < batch; ++b) {
    std::size_t s = start(rng);
    std::copy_n(part.begin() + s, context_ + 1, out.begin() + static_cast<std::size_t>(b) * (context_ + 1));
  }
  return mica::array(out.data(), {batch, context_ + 1}, mica::int32);
}

mica::array Dataset::train_batch(uint64_t seed, int64_t step, int batch) const {
  // splitmix-style mixing so that neighbouring steps draw unrelated windows.
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(step + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return windows(train_, z ^ (z >> 31), batch);
}

mica::array Dataset::val_batch(int i, int batch) const { return windows(val_, 0xC0FFEEull + static_cast<uint64_t>(i), batch); }

}  // namespace mica_train
