// The expressions compile's code generators write for one elementwise step (shared by the CPU
// generator, backend/cpu/compiled.cpp, and the GPU one, backend/cuda/compiled.cpp): each
// computes as the step's own kernel on that device does, so fused results equal unfused ones.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "mica/primitives/compiled.h"

namespace mica::codegen {

enum class Target { cpu, gpu };

/** C++ type of a dtype in generated code; null for dtypes the generators leave alone. On the
 *  GPU, float16 and bfloat16 are held as float (see compute_type) and rounded after each step. */
const char* ctype(Dtype d, Target t = Target::cpu);
/** The type a value of dtype d is computed in: ctype, or float for the GPU's half types. */
const char* compute_type(Dtype d, Target t);
/** Where generated kernels are cached on disk: $MICA_CACHE_DIR/<sub> (default
 *  $XDG_CACHE_HOME/mica/<sub> or ~/.cache/mica/<sub>; a temporary folder without a home). */
std::string cache_dir(const std::string& sub);
/** The expression of one step over its arguments' variables (of compute types), or nothing when
 *  the generator does not know it (the fused node then runs its steps one by one). */
std::optional<std::string> expression(const Primitive& p, const std::vector<std::string>& args,
                                      const std::vector<Dtype>& in, Dtype out, Target t);

/** The phases of a fused node with sums, as both row generators lay them out: per value
 *  (inputs, then steps) its dtype, whether it varies along the row's columns (`full`), whether it
 *  is a sum, its level (how many sums it waits for, a sum one more than its argument) and, for
 *  elementwise steps, its expression over values named v<k> (`wrap` applied: the GPU rounds
 *  halves there). `top` is the largest level. */
struct RowPlan {
  int num_inputs = 0;
  std::vector<Dtype> dt;
  std::vector<char> full, sum;
  std::vector<int> level;
  std::vector<int> sum_arg;  // a sum's argument (-1 for other values)
  std::vector<std::string> expr;
  int top = 0;
  /** The steps of level l that are one value per row (neither full nor sums), in step order. */
  std::vector<int> per_row_at(int l) const;
  /** The sums whose arguments are ready at level l (they are of level l + 1), in step order. */
  std::vector<int> sums_after(int l) const;
};
/** The name of value v in generated code: v<k>. */
std::string value_name(int v);
/** The plan of `steps` over inputs of these dtypes, `full_inputs` saying which inputs vary along
 *  the row; nothing when a dtype or step has no expression for the target. */
std::optional<RowPlan> row_plan(const std::vector<Compiled::Step>& steps, const std::vector<Dtype>& in_dtypes,
                                const std::vector<char>& full_inputs, Target t,
                                std::string (*wrap)(Dtype, const std::string&));
/** The values that vary along the row which `targets` need, in value order (sums excluded: their
 *  totals are per-row values): what a column loop computing `targets` must define. */
std::vector<int> row_values_needed(const std::vector<Compiled::Step>& steps, const RowPlan& plan,
                                   const std::vector<int>& targets);

}  // namespace mica::codegen
