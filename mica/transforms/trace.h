// Shared pieces of the function transforms (internal): tracer inputs and the walk that finds
// the nodes between a function's inputs and its outputs.
#pragma once
#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

#include "mica/array.h"

namespace mica::detail {

/** The nodes that depend on the sources, inputs before consumers (one array per node with
 * several outputs), and the ids of every array that depends on a source (sources included). */
struct Tape {
  std::vector<array> nodes;
  std::unordered_set<uintptr_t> depends;
};

/** Walks from `outputs` towards `sources` without recursion. With `stop_gradients`, a
 * StopGradient node does not depend on its input. */
Tape trace_tape(const std::vector<array>& outputs, const std::vector<array>& sources, bool stop_gradients);

/** A new node holding `p`'s value, flagged as a tracer: a leaf for the walk. */
array make_tracer(const array& p);

/** Records "rule:Name" when the test harness records coverage. */
void record_rule(const char* rule, const Primitive& p);

}  // namespace mica::detail
