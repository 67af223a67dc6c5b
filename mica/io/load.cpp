// load_arrays: the format chosen by the file's extension.
#include "mica/io.h"

namespace mica {

std::unordered_map<std::string, array> load_arrays(const std::string& file, StreamOrDevice s) {
  auto ends_with = [&](const std::string& ext) {
    return file.size() >= ext.size() && file.compare(file.size() - ext.size(), ext.size(), ext) == 0;
  };
  if (ends_with(".npz")) return load_npz(file, s);
  if (ends_with(".safetensors")) return load_safetensors(file, s).first;
  if (ends_with(".gguf")) return load_gguf(file, s).first;
  throw std::invalid_argument("[load_arrays] expected a file ending in .npz, .safetensors or .gguf, got " + file + ".");
}

}  // namespace mica
