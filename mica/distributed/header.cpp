// The transfer header both backends exchange (distributed/header.h).
#include "mica/distributed/header.h"

#include <algorithm>

namespace mica::distributed::detail {

Header make_header(int64_t code, const Shape& shape, Dtype dtype) {
  Header h{};
  h[0] = code;
  h[1] = static_cast<int64_t>(dtype.val);
  h[2] = static_cast<int64_t>(shape.size());
  uint64_t hash = 1469598103934665603ull;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (d < kHeaderDims) h[3 + d] = shape[d];
    hash = (hash ^ static_cast<uint64_t>(shape[d])) * 1099511628211ull;
  }
  h[kHeaderWords - 1] = static_cast<int64_t>(hash);
  return h;
}

int64_t op_code(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return kAllSum;
    case ReduceOp::max: return kAllMax;
    case ReduceOp::min: return kAllMin;
  }
  return kAllSum;
}

namespace {
const char* op_name(int64_t code) {
  switch (code) {
    case kAllSum: return "all_sum";
    case kAllMax: return "all_max";
    case kAllMin: return "all_min";
    case kAllGather: return "all_gather";
    case kSumScatter: return "sum_scatter";
    case kSend: return "send";
  }
  return "an unknown operation";
}
}  // namespace

std::string describe(const Header& h, bool with_op) {
  std::string s = with_op ? std::string(op_name(h[0])) + " of " : "";
  s += "shape (";
  int ndim = static_cast<int>(h[2]);
  for (int d = 0; d < std::min(ndim, kHeaderDims); ++d) {
    if (d) s += ", ";
    s += std::to_string(h[3 + d]);
  }
  if (ndim > kHeaderDims) s += ", ...";
  if (ndim == 1) s += ",";
  s += ") ";
  bool known = h[1] >= 0 && h[1] < Dtype::num_types;
  return s + (known ? dtype_to_string(all_dtypes[h[1]]) : std::string("of an unknown dtype"));
}

size_t header_bytes(const Header& h) {
  if (h[1] < 0 || h[1] >= Dtype::num_types || h[2] < 0 || h[2] > kHeaderDims) return 0;
  size_t bytes = all_dtypes[h[1]].size;
  for (int d = 0; d < h[2]; ++d) bytes *= static_cast<size_t>(std::max<int64_t>(h[3 + d], 0));
  return bytes;
}

std::string mismatch(const char* name, const std::vector<Header>& all) {
  std::vector<std::pair<Header, std::vector<int>>> kinds;
  for (size_t r = 0; r < all.size(); ++r) {
    auto it = std::find_if(kinds.begin(), kinds.end(), [&](const auto& k) { return k.first == all[r]; });
    if (it == kinds.end()) kinds.push_back({all[r], {static_cast<int>(r)}});
    else it->second.push_back(static_cast<int>(r));
  }
  if (kinds.size() <= 1) return "";
  std::string msg = std::string("[") + name + "] expected the same operation, shape and dtype on every rank of the group, got ";
  for (size_t k = 0; k < kinds.size(); ++k) {
    msg += k == 0 ? "" : (k + 1 == kinds.size() ? " and " : ", ");
    msg += describe(kinds[k].first) + (kinds[k].second.size() == 1 ? " on rank " : " on ranks ");
    for (size_t i = 0; i < kinds[k].second.size(); ++i) {
      if (i) msg += ",";
      msg += std::to_string(kinds[k].second[i]);
    }
  }
  return msg + ".";
}

}  // namespace mica::distributed::detail
