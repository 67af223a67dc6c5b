// Einstein summation (MLX's einsum.h): einsum is declared with the matrix products
// (ops/matmul.h); einsum_path tells the order it contracts in.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "mica/ops/matmul.h"

namespace mica {

/** The order einsum contracts its operands in (numpy's greedy path, as MLX's einsum_path) and
 * a report of its cost: step k contracts the operands at path[k] of the current list and puts
 * the result last. */
std::pair<std::vector<std::vector<int>>, std::string> einsum_path(const std::string& subscripts,
                                                                  const std::vector<array>& operands);

}  // namespace mica
