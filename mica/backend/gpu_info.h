// What the rest of mica asks of the GPU backend; backend/no_cuda answers for builds without
// CUDA (no GPU, nothing to wait for, no GPU memory).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace mica::gpu {
/** Number of usable GPUs (0 without a GPU backend, a driver or a device). */
int device_count();
/** The GPU this process uses: MICA_GPU_DEVICE when set, else the launcher's local rank
 * (LOCAL_RANK, OMPI_COMM_WORLD_LOCAL_RANK, MPI_LOCALRANKID, SLURM_LOCALID) or rank (MICA_RANK,
 * MLX_RANK, RANK) modulo device_count(), else 0. Fixed at the first call. */
int device_index();
/** Waits for all work queued on one GPU stream (by mica stream index), or on every GPU stream. */
void synchronize(int stream_index);
void synchronize();

// GPU memory (the stream-ordered pool); the MLX memory API reports these when the default
// device is the GPU.
size_t active_memory();
size_t peak_memory();
void reset_peak_memory();
size_t cache_memory();
size_t set_memory_limit(size_t limit);
size_t memory_limit();
size_t set_cache_limit(size_t limit);
void clear_cache();

/** What device_info reports of GPU `index`. */
struct Properties {
  std::string name, uuid, pci_bus_id;
  size_t total_memory = 0, free_memory = 0;
  int major = 0, minor = 0;  // compute capability
};
/** Fills `out` for GPU `index`; false without a GPU backend or that device. */
bool properties(int index, Properties& out);

/** A scaled_dot_product_attention call, as the fused GPU kernel sees it: q (B, N_q, L_q, D),
 * k and v (B, N_kv, L_kv, D or D_v), an additive mask of (mask_batch, mask_heads, L_q, L_kv)
 * when mask_batch > 0. */
struct AttentionCase {
  bool bf16;  // else float16
  int64_t batch, q_heads, kv_heads, q_len, kv_len, head_dim, value_dim;
  bool causal;
  float scale;
  int64_t mask_batch = 0, mask_heads = 0;
};
/** True if the GPU's fused attention (cuDNN) takes this case, forward and backward; false
 * without cuDNN. The answer is cached per case. */
bool fused_attention_supported(const AttentionCase& c);

/** How many primitives ran their CPU kernel for a GPU stream because they have no GPU kernel
 * yet (their data copied over and back). */
size_t cpu_fallback_count();
/** Names of the primitives that fall back to the CPU on a GPU stream, with the reason. */
std::string cpu_fallback_reason(const std::string& primitive);
}  // namespace mica::gpu
