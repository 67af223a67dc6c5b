// Array files: .npy, .npz, .safetensors and .gguf, loaded and saved as MLX does.
//
// Loading maps the file and hands out arrays whose buffers point into the mapping (copy-on-write,
// so the file is never modified) when the data is aligned for its dtype; otherwise that tensor
// is copied. Every size, offset and count a file declares is checked against the file before
// anything is allocated; a bad file throws std::runtime_error "[op] <file>: <problem>".
// Saving evaluates the arrays, streams them in row-major order to "<file>.tmp.<pid>.<random>"
// in the target's directory, fsyncs it and renames it over the target: a failed save leaves any
// existing file unchanged and no temporary file behind.
#pragma once
#include <string>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "mica/array.h"
#include "mica/device.h"

namespace mica {

/** Loads a .npy file (C or Fortran order, either byte order). */
array load(const std::string& file, StreamOrDevice s = {});
/** Saves `a` as .npy (C order, little endian); appends ".npy" to `file` if missing. */
void save(std::string file, const array& a);

/** Loads every member of a .npz archive (stored or deflated); keys drop the ".npy" suffix. */
std::unordered_map<std::string, array> load_npz(const std::string& file, StreamOrDevice s = {});
/** Saves named arrays as an uncompressed .npz; appends ".npz" to `file` if missing. */
void savez(std::string file, const std::unordered_map<std::string, array>& arrays);
/** Saves arrays named arr_0, arr_1, ... (NumPy's names for positional arrays) as .npz. */
void savez(std::string file, const std::vector<array>& arrays);
/** Saves named arrays as a deflate-compressed .npz; appends ".npz" to `file` if missing. */
void savez_compressed(std::string file, const std::unordered_map<std::string, array>& arrays);
/** Saves arrays named arr_0, arr_1, ... as a deflate-compressed .npz. */
void savez_compressed(std::string file, const std::vector<array>& arrays);

/** Arrays and string metadata of a safetensors file. */
using SafetensorsLoad =
    std::pair<std::unordered_map<std::string, array>, std::unordered_map<std::string, std::string>>;
/** Loads a .safetensors file (every dtype; F8_E4M3 and F8_E8M0 load as uint8, as MLX). */
SafetensorsLoad load_safetensors(const std::string& file, StreamOrDevice s = {});
/** Saves arrays and metadata as .safetensors; appends ".safetensors" to `file` if missing. */
void save_safetensors(std::string file, const std::unordered_map<std::string, array>& arrays,
                      const std::unordered_map<std::string, std::string>& metadata = {});

/** A GGUF metadata value: numbers and bools as 0-d or 1-d arrays, strings, string lists;
 *  monostate stands for a value mica does not represent (an array of arrays). */
using GGUFMetaData = std::variant<std::monostate, array, std::string, std::vector<std::string>>;
/** Arrays and metadata of a GGUF file. */
using GGUFLoad = std::pair<std::unordered_map<std::string, array>, std::unordered_map<std::string, GGUFMetaData>>;
/** Loads a .gguf file (v2 or v3). F32, F16, BF16, F64 and integer tensors load as arrays;
 *  Q4_0, Q4_1 and Q8_0 tensors load as MLX does: packed uint32 `name` plus float16
 *  `name.scales` and `name.biases` (affine quantization, group size 32, 4 or 8 bits).
 *  Unlike MLX 0.32, BF16 tensors stay bfloat16 (MLX: float16), FLOAT64 metadata stays float64
 *  (MLX: float32) and empty metadata arrays are kept (MLX drops them). */
GGUFLoad load_gguf(const std::string& file, StreamOrDevice s = {});
/** Saves arrays (float32/16, bfloat16, float64, int8/16/32/64) and metadata as GGUF v3;
 *  appends ".gguf" to `file` if missing. */
void save_gguf(std::string file, const std::unordered_map<std::string, array>& arrays,
               const std::unordered_map<std::string, GGUFMetaData>& metadata = {});

/** Loads the arrays of a .npz, .safetensors or .gguf file, chosen by the file's extension
 *  (metadata is dropped); the loader behind Module::load_weights. */
std::unordered_map<std::string, array> load_arrays(const std::string& file, StreamOrDevice s = {});

}  // namespace mica
