// mica-train: trains a GPT-style byte-level decoder with mica::nn on a text file, with a
// progress bar, validation, atomic checkpoints (model, optimizer, step) and --resume, metrics as
// CSV and an SVG loss curve, a fine-tuning phase (freeze, unfreeze the biases, optional LoRA)
// and text sampling at the end; data-parallel over MPI ranks with --distributed (optionally with
// the optimizer state sharded over them). `mica-train --help` lists the flags.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "data.h"
#include "gpt.h"
#include "mica/mica.h"
#include "report.h"

namespace mx = mica;
namespace nn = mica::nn;
namespace optim = mica::optim;
namespace fs = std::filesystem;
using namespace mica_train;

namespace {

constexpr const char* kUsage = R"(usage: mica-train [flags]

Trains a GPT-style decoder over bytes. With no flags it trains on the fortunes of Debian's
`fortunes` package (600 steps, two to three minutes on two cores) and samples text at the end.

data and output
  --data PATH            text file, a directory of fortune files, or a .npy of token ids (uint16,
                         int32, uint32 or int64; 1-D) (default )" "/usr/share/games/fortunes" R"()
  --out DIR              checkpoint, metrics.csv and loss.svg go here (default runs/mica-train)
  --resume [PATH]        continue from a checkpoint (default DIR/checkpoint.safetensors)
model (taken from the checkpoint when resuming)
  --layers N (4)  --dims N (256)  --heads N (4)  --context N (128)
  --vocab N              vocabulary of token-id data (default: the largest id + 1, rounded up to 64;
                         256 bytes for text)
  --preset gpt2-124m     GPT-2 small: 12 layers, 768 dims, 12 heads, context 1024, vocabulary 50304,
                         output projection tied to the token embedding (flags given override it)
training
  --steps N              pre-training steps (default 600)
  --batch N              sequences per step, over all ranks with --distributed (default 16)
  --lr X                 peak learning rate of AdamW (default 1e-3)
  --schedule S           cosine (linear warm-up, cosine decay to lr/10) or constant (default cosine)
  --warmup N             warm-up steps of the cosine schedule (default 20)
  --weight-decay X       AdamW's decoupled weight decay (default 0.01)
  --clip X               clip the gradients' global norm to X; 0 turns it off (default 1)
  --seed N               seeds the initialization and the batches (default 0)
  --eval-every N         validation loss every N steps; 0 turns it off (default 50)
  --eval-batches N       validation batches (default 8)
  --save-every N         checkpoint every N steps (default 50; always at the end)
  --grad-checkpoint      keep only each block's input and recompute its activations in the backward
                         pass: less memory for a third more compute (nn::checkpoint)
  --no-compile           run the training step op by op (by default mica::compile traces it once,
                         fuses its elementwise chains and replays it; not with --shard-optimizer)
fine-tuning (after the pre-training steps)
  --finetune N           N more steps with the model frozen except its biases (default 0)
  --finetune-data PATH   corpus of the fine-tuning phase (default --data)
  --finetune-lr X        constant learning rate of the phase (default 1e-3)
  --lora R               also adapt each attention's query and value projections with rank-R LoRA
sampling
  --sample N             bytes to generate at the end; 0 turns it off (default 300)
  --prompt TEXT          text to continue (default a newline)
  --temperature X        sampling temperature (default 0.8)
other
  --device cpu|gpu       where to train (default cpu)
  --precision P          fp32, or bf16: matrix products and attention in bfloat16 under mica::Autocast,
                         float32 weights, optimizer state, norms and loss (default bf16 on the GPU,
                         fp32 on the CPU)
  --init PATH            start from these weights (a .safetensors of the model's parameters)
  --save-init PATH       write the initial weights there (for benchmarks/compare)
  --dump-batches PATH    write the pre-training batches as a (steps, batch, context+1) .npy
  --help                 this text
distributed (CPU ranks started by mpirun; GPU ranks (--device gpu) over NCCL, one process per GPU,
started by mpirun or by a launcher's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
MASTER_PORT, as torchrun sets them); without a launcher a group of one, the same as without)
  --distributed          data-parallel training over the ranks of distributed::init(): --batch is
                         the GLOBAL batch, split along its rows (rank r of N takes rows
                         [r*B/N, (r+1)*B/N), so B must be a multiple of N) and the losses equal one
                         process's on the same batches; gradients averaged with
                         nn::average_gradients, the same AdamW step on every rank (weights
                         identical), validation split the same way and averaged; rank 0 alone
                         prints and writes files. Checkpoints do not depend on the number of ranks.
                         Give each rank MICA_NUM_THREADS=cores/N threads.
  --shard-optimizer      with --distributed: each rank keeps and updates 1/N of AdamW's state
                         (optim::ShardedOptimizer: sum_scatter, update the shard, all_gather)
  --debug-rank-weights   every rank also writes its final weights to DIR/weights.rank<r>.safetensors
                         (to check that the ranks agree)
  e.g. mpirun -np 2 -x MICA_NUM_THREADS=1 mica-train --distributed --batch 16
)";

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Options {
  std::string data = kFortunesDir, out = "runs/mica-train", resume, finetune_data, init, save_init, dump_batches;
  std::string prompt = "\n", schedule = "cosine", device = "cpu", preset, precision;
  GPTConfig model;
  int64_t steps = 600, finetune = 0;
  int batch = 16, warmup = 20, eval_every = 50, eval_batches = 8, save_every = 50, lora = 0, sample = 300;
  double lr = 1e-3, weight_decay = 0.01, clip = 1.0, finetune_lr = 1e-3, temperature = 0.8;
  uint64_t seed = 0;
  bool resuming = false, distributed = false, shard_optimizer = false, rank_weights = false, compile = true;
  std::set<std::string> given;  // flags set on the command line
};

long long parse_int(const std::string& flag, const std::string& v, long long lo, long long hi) {
  std::size_t used = 0;
  long long x = 0;
  try {
    x = std::stoll(v, &used);
  } catch (...) {
    used = 0;
  }
  if (used != v.size() || v.empty() || x < lo || x > hi)
    throw UsageError(flag + " expects an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got '" +
                     v + "'");
  return x;
}

double parse_float(const std::string& flag, const std::string& v, double lo, double hi) {
  std::size_t used = 0;
  double x = 0;
  try {
    x = std::stod(v, &used);
  } catch (...) {
    used = 0;
  }
  if (used != v.size() || v.empty() || !(x >= lo && x <= hi))
    throw UsageError(flag + " expects a number in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got '" + v +
                     "'");
  return x;
}

Options parse(int argc, char** argv) {
  Options o;
  constexpr long long kBig = 1'000'000'000;
  for (int i = 1; i < argc; ++i) {
    std::string f = argv[i], v;
    auto value = [&]() -> const std::string& {
      if (i + 1 >= argc) throw UsageError(f + " expects a value");
      v = argv[++i];
      return v;
    };
    if (f == "--help" || f == "-h") {
      std::cout << kUsage;
      std::exit(0);
    }
    o.given.insert(f);
    if (f == "--data") o.data = value();
    else if (f == "--out") o.out = value();
    else if (f == "--resume") {
      o.resuming = true;
      if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) o.resume = argv[++i];
    } else if (f == "--layers") o.model.layers = int(parse_int(f, value(), 1, 256));
    else if (f == "--dims") o.model.dims = int(parse_int(f, value(), 1, 65536));
    else if (f == "--heads") o.model.heads = int(parse_int(f, value(), 1, 1024));
    else if (f == "--context") o.model.context = int(parse_int(f, value(), 1, 1 << 20));
    else if (f == "--vocab") o.model.vocab = int(parse_int(f, value(), 2, 1 << 24));
    else if (f == "--preset") {
      o.preset = value();
      if (o.preset != "gpt2-124m") throw UsageError("--preset expects gpt2-124m, got '" + o.preset + "'");
    } else if (f == "--precision") {
      o.precision = value();
      if (o.precision != "fp32" && o.precision != "bf16")
        throw UsageError("--precision expects fp32 or bf16, got '" + o.precision + "'");
    }
    else if (f == "--steps") o.steps = parse_int(f, value(), 0, kBig);
    else if (f == "--batch") o.batch = int(parse_int(f, value(), 1, 1 << 20));
    else if (f == "--lr") o.lr = parse_float(f, value(), 0, 10);
    else if (f == "--schedule") {
      o.schedule = value();
      if (o.schedule != "cosine" && o.schedule != "constant")
        throw UsageError("--schedule expects cosine or constant, got '" + o.schedule + "'");
    } else if (f == "--warmup") o.warmup = int(parse_int(f, value(), 0, kBig));
    else if (f == "--weight-decay") o.weight_decay = parse_float(f, value(), 0, 1);
    else if (f == "--clip") o.clip = parse_float(f, value(), 0, 1e30);
    else if (f == "--seed") o.seed = uint64_t(parse_int(f, value(), 0, kBig * kBig / 1000));
    else if (f == "--eval-every") o.eval_every = int(parse_int(f, value(), 0, kBig));
    else if (f == "--eval-batches") o.eval_batches = int(parse_int(f, value(), 1, 1 << 20));
    else if (f == "--save-every") o.save_every = int(parse_int(f, value(), 1, kBig));
    else if (f == "--finetune") o.finetune = parse_int(f, value(), 0, kBig);
    else if (f == "--finetune-data") o.finetune_data = value();
    else if (f == "--finetune-lr") o.finetune_lr = parse_float(f, value(), 0, 10);
    else if (f == "--lora") o.lora = int(parse_int(f, value(), 1, 1 << 16));
    else if (f == "--grad-checkpoint") o.model.checkpoint = true;
    else if (f == "--no-compile") o.compile = false;
    else if (f == "--sample") o.sample = int(parse_int(f, value(), 0, 1 << 24));
    else if (f == "--prompt") o.prompt = value();
    else if (f == "--temperature") o.temperature = parse_float(f, value(), 1e-3, 100);
    else if (f == "--device") {
      o.device = value();
      if (o.device != "cpu" && o.device != "gpu") throw UsageError("--device expects cpu or gpu, got '" + o.device + "'");
    } else if (f == "--init") o.init = value();
    else if (f == "--save-init") o.save_init = value();
    else if (f == "--dump-batches") o.dump_batches = value();
    else if (f == "--distributed") o.distributed = true;
    else if (f == "--shard-optimizer") o.shard_optimizer = true;
    else if (f == "--debug-rank-weights") o.rank_weights = true;
    else throw UsageError("unknown flag '" + f + "' (see --help)");
  }
  if (o.preset == "gpt2-124m") {
    auto unless_given = [&](const char* flag, int& field, int v) {
      if (!o.given.contains(flag)) field = v;
    };
    unless_given("--layers", o.model.layers, 12);
    unless_given("--dims", o.model.dims, 768);
    unless_given("--heads", o.model.heads, 12);
    unless_given("--context", o.model.context, 1024);
    unless_given("--vocab", o.model.vocab, 50304);
    o.model.tied = true;
  }
  if (o.precision.empty()) o.precision = o.device == "gpu" ? "bf16" : "fp32";
  if (o.model.dims % o.model.heads != 0)
    throw UsageError("--heads (" + std::to_string(o.model.heads) + ") must divide --dims (" +
                     std::to_string(o.model.dims) + ")");
  if (o.lora && !o.finetune) throw UsageError("--lora needs a fine-tuning phase (--finetune N)");
  if (o.prompt.empty()) throw UsageError("--prompt must not be empty");
  if (o.shard_optimizer && !o.distributed) throw UsageError("--shard-optimizer expects --distributed, got neither");
  if (o.rank_weights && !o.distributed) throw UsageError("--debug-rank-weights expects --distributed, got neither");
  if (o.resuming && o.resume.empty()) o.resume = (fs::path(o.out) / "checkpoint.safetensors").string();
  if (o.finetune_data.empty()) o.finetune_data = o.data;
  return o;
}

// -- Checkpoints ----------------------------------------------------------------------------

constexpr const char* kFormat = "mica-train/1";

struct Checkpoint {
  std::unordered_map<std::string, mx::array> model, optimizer;
  std::map<std::string, std::string> meta;
};

// opt_state: the optimizer's whole state (a sharded optimizer's gathered one: the same layout).
void save_checkpoint(const std::string& path, const GPT& model, const mx::Tree& opt_state,
                     const std::map<std::string, std::string>& meta) {
  std::unordered_map<std::string, mx::array> arrays;
  for (auto& [k, a] : mx::tree_flatten_arrays(model.parameters())) arrays.emplace("model." + k, a);
  for (auto& [k, a] : mx::tree_flatten_arrays(opt_state)) arrays.emplace("optimizer." + k, a);
  std::unordered_map<std::string, std::string> m(meta.begin(), meta.end());
  m["format"] = kFormat;
  mx::save_safetensors(path, arrays, m);  // temp file + rename: never a half checkpoint
}

Checkpoint load_checkpoint(const std::string& path) {
  if (!fs::exists(path)) throw std::runtime_error("checkpoint " + path + " does not exist");
  auto [arrays, meta] = mx::load_safetensors(path);
  if (meta["format"] != kFormat)
    throw std::runtime_error("checkpoint " + path + " is not a mica-train checkpoint (format '" + meta["format"] + "')");
  Checkpoint c;
  for (auto& [k, a] : arrays) {
    if (k.rfind("model.", 0) == 0) c.model.emplace(k.substr(6), a);
    else if (k.rfind("optimizer.", 0) == 0) c.optimizer.emplace(k.substr(10), a);
    else throw std::runtime_error("checkpoint " + path + " has an unexpected entry '" + k + "'");
  }
  for (const char* key : {"step", "phase", "layers", "dims", "heads", "context", "seed", "lora"})
    if (!meta.contains(key)) throw std::runtime_error("checkpoint " + path + " lacks the metadata '" + key + "'");
  c.meta.insert(meta.begin(), meta.end());
  return c;
}

long long meta_int(const Checkpoint& c, const std::string& key, const std::string& path) {
  try {
    return std::stoll(c.meta.at(key));
  } catch (...) {
    throw std::runtime_error("checkpoint " + path + " has a malformed '" + key + "': '" + c.meta.at(key) + "'");
  }
}

// Loads (path, array) pairs into the model strictly: missing, extra or misshapen weights throw
// with the model unchanged.
void load_into(nn::Module& model, const std::unordered_map<std::string, mx::array>& weights, const std::string& path) {
  std::vector<std::pair<std::string, mx::array>> w(weights.begin(), weights.end());
  try {
    model.load_weights(w, true);
  } catch (const std::exception& e) {
    throw std::runtime_error("weights in " + path + " do not fit the model: " + e.what());
  }
}

// -- Training ---------------------------------------------------------------------------------

std::atomic<bool> g_stop{false};
int g_rank = 0;  // this process's rank under mpirun (main's error messages name it)
extern "C" void on_signal(int) { g_stop.store(true); }

// AdamW with the run's schedule; with --shard-optimizer wrapped so that each rank of `group` keeps
// 1/N of its state (the wrapper then clips the averaged gradients itself).
std::shared_ptr<optim::Optimizer> make_optimizer(const Options& o, bool finetune,
                                                 const std::optional<mx::distributed::Group>& group) {
  optim::LearningRate lr = static_cast<float>(finetune ? o.finetune_lr : o.lr);
  if (!finetune && o.schedule == "cosine" && o.steps > 0) {
    const float peak = static_cast<float>(o.lr);
    const int warm = static_cast<int>(std::min<int64_t>(o.warmup, o.steps));
    const int rest = static_cast<int>(std::max<int64_t>(o.steps - warm, 1));
    auto decay = optim::cosine_decay(peak, rest, peak / 10);
    lr = warm > 0 ? optim::join_schedules({optim::linear_schedule(peak / warm, peak, warm), decay}, {warm}) : decay;
  }
  // Bias correction on, as PyTorch's AdamW (benchmarks/compare checks the two agree).
  auto adamw =
      std::make_shared<optim::AdamW>(lr, optim::AdamWOptions{.weight_decay = o.weight_decay, .bias_correction = true});
  if (!o.shard_optimizer) return adamw;
  return std::make_shared<optim::ShardedOptimizer>(
      adamw, optim::ShardedOptimizerOptions{.group = group, .max_grad_norm = static_cast<float>(o.clip)});
}

// The data-parallel split: rank r of n takes rows [r*B/n, (r+1)*B/n) of a global batch.
struct Ranks {
  std::optional<mx::distributed::Group> group;  // set with --distributed
  int rank = 0, size = 1;
  mx::array shard(const mx::array& batch) const {
    if (size == 1) return batch;
    const int rows = batch.shape(0) / size;
    return mx::slice(batch, {rank * rows, 0}, {(rank + 1) * rows, batch.shape(1)});
  }
  // The mean over the ranks of a per-shard mean (the global mean: the shards are equal).
  mx::array mean(const mx::array& x) const {
    if (size == 1) return x;
    return mx::divide(mx::distributed::all_sum(x, *group), mx::array(static_cast<float>(size)));
  }
};

mx::array batch_loss(GPT& model, const mx::array& batch, bool bf16) {
  // bf16: the matrix products and attention in bfloat16, everything else as it is (mica/autocast.h).
  std::optional<mx::Autocast> autocast;
  if (bf16) autocast.emplace(mx::bfloat16);
  const int T = batch.shape(1) - 1;
  mx::array x = mx::slice(batch, {0, 0}, {batch.shape(0), T});
  mx::array y = mx::slice(batch, {0, 1}, {batch.shape(0), T + 1});
  mx::array logits = model(x);
  return nn::losses::cross_entropy(mx::reshape(logits, {-1, logits.shape(-1)}), mx::reshape(y, {-1}),
                                   {.reduction = nn::losses::Reduction::mean});
}

// Every rank evaluates its rows of each validation batch; the mean over ranks is the loss of the
// whole batch, as one process computes it.
double validation_loss(GPT& model, const Dataset& data, const Options& o, const Ranks& ranks) {
  double total = 0;
  for (int i = 0; i < o.eval_batches; ++i)
    total += ranks.mean(batch_loss(model, ranks.shard(data.val_batch(i, o.batch)), o.precision == "bf16")).item<float>();
  return total / o.eval_batches;
}

void enter_finetune(GPT& model, const Options& o, int lora, bool announce) {
  model.freeze();
  model.unfreeze({.keys = {"bias"}});
  if (lora > 0) add_lora(model, lora);
  if (!announce) return;
  std::size_t trainable = count_parameters(model.trainable_parameters()), total = count_parameters(model.parameters());
  std::printf("fine-tuning: model.freeze(); model.unfreeze({.keys = {\"bias\"}})%s\n",
              lora ? (", LoRA rank " + std::to_string(lora) + " on the query and value projections").c_str() : "");
  std::printf("  trainable parameters: %zu of %zu (%.2f%%) in %zu arrays\n", trainable, total,
              100.0 * double(trainable) / double(total), mx::tree_flatten_arrays(model.trainable_parameters()).size());
}

std::string sample_text(GPT& model, const Options& o) {
  std::mt19937_64 rng(o.seed ^ 0x5eedull);
  std::vector<int32_t> tokens;
  for (unsigned char c : o.prompt) tokens.push_back(c);
  std::string out;
  const int ctx = model.config().context;
  for (int i = 0; i < o.sample; ++i) {
    const int n = std::min<int>(static_cast<int>(tokens.size()), ctx);
    mx::array x(tokens.data() + tokens.size() - n, {1, n}, mx::int32);
    mx::array logits = mx::take(mx::reshape(model(x), {n, -1}), mx::array(n - 1), 0);
    mx::array p = mx::softmax(logits * static_cast<float>(1.0 / o.temperature), -1);
    mx::eval(p);
    const float* pp = p.data<float>();
    std::discrete_distribution<int> pick(pp, pp + p.size());
    int t = pick(rng);
    tokens.push_back(t);
    // Control bytes (an untrained model emits any byte) would drive the terminal: shown as '?'.
    out.push_back((t < 32 && t != '\n' && t != '\t') || t == 127 ? '?' : static_cast<char>(t));
  }
  return out;
}

int run(const Options& o0) {
  Options o = o0;
  if (o.device == "gpu") {
    if (!mx::is_available(mx::Device::gpu))
      throw UsageError("--device gpu: this build of mica has no usable GPU (no CUDA backend or no device); use --device cpu");
    mx::set_default_device(mx::Device::gpu);
  } else {
    mx::set_default_device(mx::Device::cpu);  // a GPU, when present, is otherwise the default
  }

  // Data parallelism: every rank runs this same program on its rows of each batch.
  Ranks ranks;
  if (o.distributed) {
    // GPU ranks talk over NCCL (one process per GPU: mpirun, or a launcher's environment such as
    // torchrun's); CPU ranks over MPI.
    bool nccl = o.device == "gpu" && mx::distributed::is_available("nccl");
    ranks.group = mx::distributed::init(false, nccl ? "nccl" : "any");
    ranks.rank = ranks.group->rank();
    ranks.size = ranks.group->size();
    g_rank = ranks.rank;
    if (o.batch % ranks.size != 0)
      throw UsageError("--distributed expects --batch (the global batch) to be a multiple of the " +
                       std::to_string(ranks.size) + " ranks, got " + std::to_string(o.batch));
    // Rank 0 alone reports; the others' stdout goes nowhere (errors still reach stderr).
    std::fflush(stdout);
    if (ranks.rank != 0 && !std::freopen("/dev/null", "w", stdout))
      throw std::runtime_error("cannot redirect the standard output of rank " + std::to_string(ranks.rank));
  } else {
    // mpirun without --distributed: N processes would each train alone into the same files.
    const char* n = std::getenv("OMPI_COMM_WORLD_SIZE");
    if (!n) n = std::getenv("PMI_SIZE");
    if (n && std::atoi(n) > 1)
      throw UsageError("started by an MPI launcher with " + std::string(n) +
                       " processes: expected --distributed (each process would otherwise train alone and "
                       "overwrite the others' files), got none");
  }
  const bool lead = ranks.rank == 0;  // writes the files

  // Resuming: the model's shape, the seed and the phase come from the checkpoint.
  std::optional<Checkpoint> ckpt;
  int64_t start = 0;
  int ckpt_lora = 0;
  if (o.resuming) {
    ckpt = load_checkpoint(o.resume);
    auto take = [&](const char* flag, const char* key, int& field) {
      int v = static_cast<int>(meta_int(*ckpt, key, o.resume));
      if (o.given.contains(flag) && v != field)
        throw UsageError(std::string(flag) + " " + std::to_string(field) + " does not match the checkpoint's " +
                         std::to_string(v) + " (" + o.resume + ")");
      field = v;
    };
    take("--layers", "layers", o.model.layers);
    take("--dims", "dims", o.model.dims);
    take("--heads", "heads", o.model.heads);
    take("--context", "context", o.model.context);
    // Checkpoints of byte-level models written before token-id data existed lack these two.
    if (ckpt->meta.contains("vocab")) take("--vocab", "vocab", o.model.vocab);
    o.model.tied = ckpt->meta.contains("tied") && ckpt->meta["tied"] == "1";
    o.seed = static_cast<uint64_t>(meta_int(*ckpt, "seed", o.resume));
    start = meta_int(*ckpt, "step", o.resume);
    ckpt_lora = static_cast<int>(meta_int(*ckpt, "lora", o.resume));
    if (ckpt->meta["phase"] == "finetune") {
      if (o.lora != ckpt_lora && o.given.contains("--lora"))
        throw UsageError("--lora " + std::to_string(o.lora) + " does not match the checkpoint's " +
                         std::to_string(ckpt_lora));
      o.lora = ckpt_lora;
      if (start < o.steps) o.steps = start;  // the pre-training phase is over
    }
    if (start >= o.steps + o.finetune)
      std::printf("checkpoint %s is at step %lld: nothing left to train (raise --steps or --finetune)\n",
                  o.resume.c_str(), static_cast<long long>(start));
  }

  // Token-id data (.npy) or the bytes of a text; the vocabulary of ids defaults to the largest + 1.
  const bool token_data = is_token_file(o.data);
  std::optional<std::vector<int32_t>> ids;  // --data's token ids, read once
  if (token_data) {
    const bool infer = !o.given.contains("--vocab") && o.preset.empty() && !(ckpt && ckpt->meta.contains("vocab"));
    ids = read_tokens(o.data, infer ? INT32_MAX : o.model.vocab);
    if (infer) {
      const int top = ids->empty() ? 0 : *std::max_element(ids->begin(), ids->end());
      o.model.vocab = (top + 1 + 63) / 64 * 64;
    }
  }
  auto make_data = [&](const std::string& path) {
    if (path == o.data && ids) return Dataset(std::move(*ids), o.model.context);
    return is_token_file(path) ? Dataset(read_tokens(path, o.model.vocab), o.model.context)
                               : Dataset(read_corpus(path), o.model.context);
  };
  if (!token_data && o.model.vocab < 256)
    throw UsageError("--vocab " + std::to_string(o.model.vocab) + " is too small for text (256 byte values)");
  const Dataset data = make_data(o.data);
  std::optional<Dataset> ft_data;
  if (o.finetune > 0 && o.finetune_data != o.data) ft_data.emplace(make_data(o.finetune_data));

  if (lead) fs::create_directories(o.out);
  const std::string ckpt_path = (fs::path(o.out) / "checkpoint.safetensors").string();
  const std::string csv_path = (fs::path(o.out) / "metrics.csv").string();
  const std::string svg_path = (fs::path(o.out) / "loss.svg").string();

  mx::random::seed(o.seed);
  GPT model(o.model);
  if (!o.init.empty()) load_into(model, mx::load_safetensors(o.init).first, o.init);
  std::printf("GPT: %d layers, %d dims, %d heads, context %d, vocabulary %d%s, %zu parameters, %s on the %s; "
              "corpus %s: %zu training %s, %zu validation\n",
              o.model.layers, o.model.dims, o.model.heads, o.model.context, o.model.vocab,
              o.model.tied ? " (tied)" : "", count_parameters(model.parameters()), o.precision.c_str(),
              o.device.c_str(), o.data.c_str(), data.train_size(), token_data ? "tokens" : "bytes", data.val_size());
  if (o.distributed)
    std::printf("data-parallel over %d rank%s (%s): global batch %d, %d sequences per rank%s\n", ranks.size,
                ranks.size == 1 ? "" : "s", ranks.group->backend().c_str(), o.batch, o.batch / ranks.size,
                o.shard_optimizer ? ", optimizer state sharded" : "");
  if (!o.save_init.empty() && lead) {
    std::unordered_map<std::string, mx::array> init;
    for (auto& [k, a] : mx::tree_flatten_arrays(model.parameters())) init.emplace(k, a);
    mx::save_safetensors(o.save_init, init);
  }
  bool finetuning = start >= o.steps && o.finetune > 0;
  const bool ckpt_finetune = ckpt && ckpt->meta["phase"] == "finetune";
  if (ckpt_finetune) enter_finetune(model, o, o.lora, false);  // the adapters must exist before loading
  if (ckpt) load_into(model, ckpt->model, o.resume);
  if (finetuning && !ckpt_finetune) enter_finetune(model, o, o.lora, true);
  std::shared_ptr<optim::Optimizer> opt = make_optimizer(o, finetuning, ranks.group);
  // The sharded optimizer's state is this rank's slice; checkpoints hold the whole state in
  // AdamW's own layout (gathered to save, sliced to load), whatever the number of ranks.
  auto sharded = [&] { return std::dynamic_pointer_cast<optim::ShardedOptimizer>(opt); };
  if (ckpt) {
    if (finetuning == ckpt_finetune) {
      if (auto sh = sharded()) sh->scatter_state(mx::tree_unflatten(ckpt->optimizer));
      else opt->set_state(mx::tree_unflatten(ckpt->optimizer));
      opt->init(model.trainable_parameters());
    }
    std::printf("resumed from %s at step %lld\n", o.resume.c_str(), static_cast<long long>(start));
  }
  auto report_sharding = [&] {
    auto sh = sharded();
    if (!sh) return;
    sh->init(model.trainable_parameters());
    const std::size_t whole = 2 * count_parameters(model.trainable_parameters());
    std::printf("AdamW state per rank: %lld elements (m and v) of %zu, %.1f%%\n",
                static_cast<long long>(sh->state_elements()), whole, 100.0 * double(sh->state_elements()) / double(whole));
  };
  report_sharding();

  std::vector<MetricRow> rows = o.resuming ? read_metrics(csv_path, start) : std::vector<MetricRow>{};
  double elapsed_before = rows.empty() ? 0.0 : rows.back().elapsed_s;
  std::vector<int32_t> dumped;

  auto meta = [&](int64_t step, bool ft) {
    return std::map<std::string, std::string>{
        {"step", std::to_string(step)},         {"phase", ft ? "finetune" : "pretrain"},
        {"layers", std::to_string(o.model.layers)}, {"dims", std::to_string(o.model.dims)},
        {"heads", std::to_string(o.model.heads)},   {"context", std::to_string(o.model.context)},
        {"seed", std::to_string(o.seed)},           {"lora", std::to_string(ft ? o.lora : 0)},
        {"vocab", std::to_string(o.model.vocab)},   {"tied", o.model.tied ? "1" : "0"}};
  };
  auto save_all = [&](int64_t step, Progress* bar) {
    mx::Tree opt_state = opt->state();
    if (auto sh = sharded()) {
      opt_state = sh->gather_state();  // all_gathers: every rank evaluates them
      std::vector<mx::array> parts;
      for (auto& [k, a] : mx::tree_flatten_arrays(opt_state)) parts.push_back(a);
      mx::eval(parts);
    }
    if (!lead) return;
    save_checkpoint(ckpt_path, model, opt_state, meta(step, finetuning));
    write_metrics(csv_path, rows);
    write_loss_svg(svg_path, rows, "mica-train: " + std::to_string(o.model.layers) + " layers, " +
                                       std::to_string(o.model.dims) + " dims");
    if (bar) bar->message("  checkpoint at step " + std::to_string(step) + " -> " + ckpt_path);
  };

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  const int64_t last = o.steps + o.finetune;
  auto vg = nn::value_and_grad(model, [&](const mx::array& b) { return batch_loss(model, b, o.precision == "bf16"); });
  // One training step: loss and gradients, their average over the ranks, clipping, the optimizer's
  // update. Compiled (model and optimizer state captured), it is traced once and replayed.
  auto train_step = [&](const std::vector<mx::array>& in) {
    auto [loss, grads] = vg(in[0]);
    // Data-parallel: the mean of the ranks' gradients, which the sharded optimizer takes itself
    // (sum_scatter) and clips after averaging.
    if (ranks.size > 1 && !o.shard_optimizer) grads = nn::average_gradients(grads, *ranks.group);
    if (o.clip > 0 && !o.shard_optimizer) grads = optim::clip_grad_norm(grads, static_cast<float>(o.clip)).first;
    mx::array lr = opt->learning_rate();
    opt->update(model, grads);
    return std::vector<mx::array>{ranks.mean(loss), lr};
  };
  auto make_step = [&]() -> mx::ArraysFn {
    // The sharded optimizer keeps host-side bookkeeping between its collectives: run it as is.
    if (!o.compile || o.shard_optimizer) return train_step;
    return mx::compile(train_step, mx::CompileOptions{.inputs = {model, *opt}, .outputs = {model, *opt}});
  };
  mx::ArraysFn step_fn;
  Progress bar(start, last, ::isatty(STDOUT_FILENO));
  const auto t_run = std::chrono::steady_clock::now();
  auto t_done = t_run;  // when the previous step's results were read
  double first_val = -1, last_val = -1;
  // Steps are pipelined: step k + 1's graph is built while step k runs (async_eval), and step
  // k's loss is read after that. A step whose end needs the model itself (validation, a
  // checkpoint, the switch to fine-tuning, an interrupt, the last step) is finished before the
  // next graph is built: once it is, the module holds the next step's (pending) parameters.
  // Distributed, an interrupt stops every rank after the same step: each step's graph all_max-es
  // the ranks' flags, read with its loss (one step late, so the pipeline keeps running).
  struct Pending {
    int64_t step;
    mx::array loss, lr;
    std::optional<mx::array> stop;  // distributed: some rank was interrupted before this step
  };
  std::optional<Pending> pending;
  bool stop_agreed = false;
  auto stopping = [&] { return ranks.size > 1 ? stop_agreed : g_stop.load(); };
  auto model_due = [&](int64_t step) {  // step: 0-based, just run
    const int64_t done = step + 1;
    return done == last || (!finetuning && done == o.steps) || stopping() ||
           (o.eval_every > 0 && (done % o.eval_every == 0 || step == start)) || done % o.save_every == 0;
  };
  // Reads step p's results; with_model: validation and checkpoints too. True: stop (interrupted).
  auto finish = [&](const Pending& p, bool with_model) {
    const double loss_v = p.loss.item<float>();
    if (p.stop && p.stop->item<int32_t>() != 0) stop_agreed = true;
    const auto now = std::chrono::steady_clock::now();
    const double dt = std::chrono::duration<double>(now - t_done).count();
    t_done = now;
    if (!std::isfinite(loss_v)) {
      bar.finish();
      throw std::runtime_error("the loss diverged (" + std::to_string(loss_v) + ") at step " +
                               std::to_string(p.step + 1) + "; lower --lr");
    }
    MetricRow r{p.step + 1, loss_v, std::nullopt, o.batch * o.model.context / dt, p.lr.item<float>(),
                elapsed_before + std::chrono::duration<double>(now - t_run).count()};
    bar.update(p.step + 1, loss_v, r.tokens_per_s, finetuning ? "finetune" : "train");
    const int64_t done = p.step + 1;
    if (with_model && o.eval_every > 0 && (done % o.eval_every == 0 || done == last || p.step == start)) {
      r.val_loss = validation_loss(model, finetuning && ft_data ? *ft_data : data, o, ranks);
      if (first_val < 0) first_val = *r.val_loss;
      last_val = *r.val_loss;
      char buf[128];
      std::snprintf(buf, sizeof buf, "  step %lld: validation loss %.4f", static_cast<long long>(done), *r.val_loss);
      bar.message(buf);
    }
    rows.push_back(r);
    if (!with_model) return false;
    const bool stop = stopping();
    if (done % o.save_every == 0 || done == last || stop) save_all(done, &bar);
    if (stop) {
      bar.finish();
      std::printf("interrupted after step %lld; continue with: --resume %s\n", static_cast<long long>(done),
                  ckpt_path.c_str());
    }
    return stop;
  };
  for (int64_t step = start; step < last; ++step) {
    if (pending && model_due(pending->step)) {
      if (finish(*pending, true)) return 130;
      pending.reset();
    }
    if (!finetuning && step >= o.steps) {  // the pre-training phase ends here
      bar.finish();
      enter_finetune(model, o, o.lora, true);
      finetuning = true;
      opt = make_optimizer(o, true, ranks.group);
      step_fn = nullptr;
      report_sharding();
    }
    const Dataset& d = finetuning && ft_data ? *ft_data : data;
    mx::array batch = d.train_batch(o.seed, step, o.batch);
    if (!o.dump_batches.empty() && !finetuning) {
      mx::eval(batch);
      dumped.insert(dumped.end(), batch.data<int32_t>(), batch.data<int32_t>() + batch.size());
    }
    if (!step_fn) step_fn = make_step();  // first step, or a new optimizer (fine-tuning)
    auto step_outs = step_fn({ranks.shard(batch)});
    mx::array loss = step_outs[0], lr = step_outs[1];
    std::optional<mx::array> stop;
    if (ranks.size > 1) stop = mx::distributed::all_max(mx::array(g_stop.load() ? 1 : 0), *ranks.group);
    if (pending) finish(*pending, false);  // its end needs no model (model_due was false)
    std::vector<mx::array> outs{loss, lr};
    if (stop) outs.push_back(*stop);
    for (auto& [k, a] : mx::tree_flatten_arrays(model.parameters())) outs.push_back(a);
    for (auto& [k, a] : mx::tree_flatten_arrays(opt->state())) outs.push_back(a);
    mx::async_eval(std::move(outs));
    pending = Pending{step, loss, lr, stop};
  }
  if (pending && finish(*pending, true)) return 130;
  bar.finish();
  if (!o.dump_batches.empty() && lead) {
    mx::save(o.dump_batches, mx::array(dumped.data(), {static_cast<int>(dumped.size() / (o.batch * (o.model.context + 1))),
                                                       o.batch, o.model.context + 1}, mx::int32));
  }
  if (o.rank_weights) {  // every rank's own copy, to check that they agree
    std::unordered_map<std::string, mx::array> w;
    for (auto& [k, a] : mx::tree_flatten_arrays(model.parameters())) w.emplace(k, a);
    fs::create_directories(o.out);
    mx::save_safetensors((fs::path(o.out) / ("weights.rank" + std::to_string(ranks.rank) + ".safetensors")).string(), w);
  }
  if (o.device == "gpu")
    std::printf("peak GPU memory: %.3f GiB\n", double(mx::get_peak_memory(mx::Device::gpu)) / (1 << 30));
  if (first_val >= 0 && last_val >= 0 && start < last)
    std::printf("validation loss %.4f -> %.4f; metrics in %s, curve in %s, checkpoint %s\n", first_val, last_val,
                csv_path.c_str(), svg_path.c_str(), ckpt_path.c_str());
  if (o.sample > 0 && (token_data || o.model.vocab != 256)) {
    std::printf("(no sample: sampling prints bytes, and this model reads token ids)\n");
  } else if (o.sample > 0 && lead) {
    std::printf("--- sample (temperature %.2f) ---\n%s%s\n---\n", o.temperature, o.prompt.c_str(),
                sample_text(model, o).c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Under an MPI launcher, the launcher's rank until distributed::init gives the group's: a usage
  // error met by every rank (they parse the same flags) is printed once.
  for (const char* var : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"})
    if (const char* r = std::getenv(var)) {
      g_rank = std::atoi(r);
      break;
    }
  try {
    return run(parse(argc, argv));
  } catch (const UsageError& e) {
    // Every rank parses the same flags: rank 0 speaks for all.
    if (g_rank == 0) std::fprintf(stderr, "mica-train: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    if (g_rank == 0) std::fprintf(stderr, "mica-train: %s\n", e.what());
    else std::fprintf(stderr, "mica-train (rank %d): %s\n", g_rank, e.what());
    return 1;
  }
}
