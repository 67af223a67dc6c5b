// Builds without CUDA: no GPU, no GPU memory, and every array's data lives on the host.
#include "mica/backend/gpu_info.h"
#include "mica/backend/gpu_graph.h"

#include <stdexcept>

#include "mica/array.h"
#include "mica/custom_kernel.h"
#include "mica/primitives/compiled.h"

namespace mica::gpu {
int device_count() { return 0; }
int device_index() { return 0; }
void synchronize(int) {}
void synchronize() {}
size_t active_memory() { return 0; }
size_t peak_memory() { return 0; }
void reset_peak_memory() {}
size_t cache_memory() { return 0; }
size_t set_memory_limit(size_t) { return 0; }
size_t memory_limit() { return 0; }
size_t set_cache_limit(size_t) { return 0; }
void clear_cache() {}
bool properties(int, Properties&) { return false; }
size_t cpu_fallback_count() { return 0; }
std::string cpu_fallback_reason(const std::string&) { return ""; }
bool fused_attention_supported(const AttentionCase&) { return false; }

// No CUDA graphs (graphs_available() is false, so compile never asks for the rest).
namespace {
[[noreturn]] void no_graphs() { throw std::logic_error("[compile] no CUDA graphs in a build without CUDA."); }
}  // namespace
struct Graph::Impl {};
Graph::Graph(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Graph::~Graph() = default;
void Graph::launch(int) { no_graphs(); }
bool Graph::owns(const void*) const { return false; }
std::vector<const void*> Graph::live_blocks() const { return {}; }
bool graphs_available() { return false; }
void set_graphs(bool) {}
bool capturing() { return false; }
std::unique_ptr<Graph> capture(int, const std::function<void()>&, bool, std::string* why) {
  *why = "no CUDA";
  return nullptr;
}
void upload(const array&, int) { no_graphs(); }
array staging_buffer(const array&, int) { no_graphs(); }
void stage(const array&, const array&, int) { no_graphs(); }
void copy_out(array&, const void*, size_t, size_t, Strides, array::Flags, int) { no_graphs(); }
int64_t graph_launches() { return 0; }
}  // namespace mica::gpu

namespace mica::detail {
void ensure_host(ArrayData& d) {
  if (!(d.where & ArrayData::kHost)) throw std::logic_error("[data] array data on a GPU in a build without CUDA.");
}
void release_gpu(ArrayData&) {}
int64_t compiled_gpu_generated_launches() { return 0; }
}  // namespace mica::detail

namespace mica::detail {
std::string compiled_gpu_source_check(const Compiled&, const std::vector<array>&, const array&, const std::string&) {
  return "no CUDA";
}
}  // namespace mica::detail

namespace mica::fast::detail {
std::string custom_kernel_ptx(const std::string&, const std::string&, std::string* log) {
  *log = "no CUDA";
  return "";
}
}  // namespace mica::fast::detail
