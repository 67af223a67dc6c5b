// The header a backend exchanges before each transfer (mpi/, nccl/): operation, dtype and shape
// in 16 words, so that a rank calling with another shape, dtype or operation makes every rank
// throw a message naming each rank's call instead of corrupting memory or hanging.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "mica/array.h"
#include "mica/distributed/backend.h"

namespace mica::distributed::detail {

enum OpCode : int64_t { kAllSum = 1, kAllMax, kAllMin, kAllGather, kSumScatter, kSend };
constexpr int kHeaderWords = 16, kHeaderDims = 12;
using Header = std::array<int64_t, kHeaderWords>;

/** op code, dtype, ndim, the first 12 dimensions and a hash of all of them. */
Header make_header(int64_t code, const Shape& shape, Dtype dtype);
/** The op code of a reduction. */
int64_t op_code(ReduceOp op);
/** "all_sum of shape (3, 5) float32" (with_op = false: "shape (3, 5) float32"). */
std::string describe(const Header& h, bool with_op = true);
/** Elements of the shape a header describes (0 when it cannot be read: garbage or more than 12
 *  dimensions), and their bytes. */
size_t header_bytes(const Header& h);
/** Nothing when every rank's header (all: size headers in rank order) is the same, else the
 *  message `[name] expected the same operation, shape and dtype on every rank of the group,
 *  got ... on rank 0 and ... on ranks 1,2.` */
std::string mismatch(const char* name, const std::vector<Header>& all);

}  // namespace mica::distributed::detail
