// mica-train's reporting: the progress bar, the metrics CSV and the SVG loss curve.
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mica_train {

/** One row of metrics.csv. */
struct MetricRow {
  int64_t step = 0;         // steps done after this one (1-based)
  double train_loss = 0;    // loss of this step's batch
  std::optional<double> val_loss;
  double tokens_per_s = 0;  // this step's throughput
  double lr = 0;
  double elapsed_s = 0;     // wall time of the run so far (resumed runs continue the count)
};

/** Reads metrics.csv (rows up to and including `max_step`); a missing file gives no rows. A
 *  malformed file throws std::runtime_error naming the line. */
std::vector<MetricRow> read_metrics(const std::string& path, int64_t max_step);
/** Writes the rows as CSV atomically (temp file + rename). */
void write_metrics(const std::string& path, const std::vector<MetricRow>& rows);
/** Writes the training and validation loss curves as an SVG image atomically. */
void write_loss_svg(const std::string& path, const std::vector<MetricRow>& rows, const std::string& title);
/** Writes `text` to `path` atomically. */
void write_atomic(const std::string& path, const std::string& text);

/** A one-line progress bar redrawn in place on a terminal, or a line every `every` steps. */
class Progress {
 public:
  Progress(int64_t first_step, int64_t last_step, bool tty);
  /** Shows step (1-based, of last_step), the loss and throughput, and the time left. */
  void update(int64_t step, double loss, double tokens_per_s, const std::string& phase);
  /** Prints a line above the bar (validation losses, checkpoints). */
  void message(const std::string& text);
  /** Ends the bar's line. */
  void finish();

 private:
  int64_t first_, last_;
  bool tty_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
  std::string last_line_;
};

/** "1h02m", "3m07s", "12s". */
std::string format_duration(double seconds);

}  // namespace mica_train
