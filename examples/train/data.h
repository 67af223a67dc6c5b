// mica-train's data: a byte corpus split into training and validation parts, and batches of
// random windows drawn deterministically from (seed, step) so that a resumed run sees the same
// batches as an uninterrupted one.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "mica/mica.h"

namespace mica_train {

/** Where the default corpus comes from: Debian's `fortunes` package. */
inline constexpr const char* kFortunesDir = "/usr/share/games/fortunes";

/** The text of `path` (a file, or a directory of fortune files); throws std::runtime_error
 *  naming the path when it is missing, unreadable or empty. */
std::string read_corpus(const std::string& path);

/** True if `path` names a .npy file of token ids rather than text. */
bool is_token_file(const std::string& path);

/** The token ids of a 1-D .npy file (uint16, int32, uint32 or int64), each checked to be in
 *  [0, vocab); throws std::runtime_error naming the path and the offending id otherwise. */
std::vector<int32_t> read_tokens(const std::string& path, int vocab);

/** Training and validation tokens of a corpus (bytes of a text, or token ids). */
class Dataset {
 public:
  /** The last `val_fraction` of the text is held out; both parts need context + 1 bytes. */
  Dataset(const std::string& text, int context, double val_fraction = 0.1);
  /** The same over token ids. */
  Dataset(std::vector<int32_t> tokens, int context, double val_fraction = 0.1);
  /** (batch, context + 1) int32 windows of the training part for step `step`: inputs are
   *  [:, :-1], targets [:, 1:]. */
  mica::array train_batch(uint64_t seed, int64_t step, int batch) const;
  /** The i-th fixed validation batch. */
  mica::array val_batch(int i, int batch) const;
  std::size_t train_size() const { return train_.size(); }
  std::size_t val_size() const { return val_.size(); }

 private:
  mica::array windows(const std::vector<int32_t>& part, uint64_t seed, int batch) const;
  std::vector<int32_t> train_, val_;
  int context_;
};

}  // namespace mica_train
