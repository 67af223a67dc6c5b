#include "report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <unistd.h>

namespace mica_train {

void write_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error("cannot write " + tmp);
    out << text;
    out.flush();
    if (!out) {
      std::filesystem::remove(tmp);
      throw std::runtime_error("error while writing " + tmp);
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp);
    throw std::runtime_error("cannot rename " + tmp + " to " + path + ": " + ec.message());
  }
}

static const char* kHeader = "step,train_loss,val_loss,tokens_per_s,lr,elapsed_s";

std::vector<MetricRow> read_metrics(const std::string& path, int64_t max_step) {
  std::vector<MetricRow> rows;
  std::ifstream in(path);
  if (!in) return rows;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (n == 1) {
      if (line != kHeader) throw std::runtime_error(path + ":1: not a mica-train metrics file");
      continue;
    }
    if (line.empty()) continue;
    MetricRow r;
    char val[64] = {0};
    long long step = 0;
    if (std::sscanf(line.c_str(), "%lld,%lf,%63[^,],%lf,%lf,%lf", &step, &r.train_loss, val, &r.tokens_per_s, &r.lr,
                    &r.elapsed_s) != 6 &&
        std::sscanf(line.c_str(), "%lld,%lf,,%lf,%lf,%lf", &step, &r.train_loss, &r.tokens_per_s, &r.lr,
                    &r.elapsed_s) != 5)
      throw std::runtime_error(path + ":" + std::to_string(n) + ": malformed metrics row");
    r.step = step;
    if (val[0]) r.val_loss = std::strtod(val, nullptr);
    if (r.step <= max_step) rows.push_back(r);
  }
  return rows;
}

void write_metrics(const std::string& path, const std::vector<MetricRow>& rows) {
  std::ostringstream os;
  os << kHeader << "\n";
  char buf[256];
  for (const auto& r : rows) {
    std::string val;
    if (r.val_loss) {
      std::snprintf(buf, sizeof buf, "%.6f", *r.val_loss);
      val = buf;
    }
    std::snprintf(buf, sizeof buf, "%lld,%.6f,%s,%.1f,%.6g,%.2f\n", static_cast<long long>(r.step), r.train_loss,
                  val.c_str(), r.tokens_per_s, r.lr, r.elapsed_s);
    os << buf;
  }
  write_atomic(path, os.str());
}

void write_loss_svg(const std::string& path, const std::vector<MetricRow>& rows, const std::string& title) {
  const double W = 720, H = 420, L = 60, R = 20, T = 40, B = 50;  // size and margins
  double x_max = 1, y_min = 1e30, y_max = -1e30;
  for (const auto& r : rows) {
    x_max = std::max(x_max, double(r.step));
    y_min = std::min({y_min, r.train_loss, r.val_loss.value_or(r.train_loss)});
    y_max = std::max({y_max, r.train_loss, r.val_loss.value_or(r.train_loss)});
  }
  if (rows.empty()) y_min = 0, y_max = 1;
  if (y_max - y_min < 1e-6) y_max = y_min + 1;
  auto px = [&](double s) { return L + (W - L - R) * s / x_max; };
  auto py = [&](double v) { return T + (H - T - B) * (1 - (v - y_min) / (y_max - y_min)); };
  std::ostringstream os;
  char buf[256];
  os << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H
     << "\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  os << "<text x=\"" << W / 2 << "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">" << title << "</text>\n";
  // Axes, ticks and grid.
  std::snprintf(buf, sizeof buf, "<path d=\"M%.1f %.1f V%.1f H%.1f\" stroke=\"black\" fill=\"none\"/>\n", L, T, H - B,
                W - R);
  os << buf;
  for (int i = 0; i <= 5; ++i) {
    double v = y_min + (y_max - y_min) * i / 5, s = x_max * i / 5;
    std::snprintf(buf, sizeof buf,
                  "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                  "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.2f</text>"
                  "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.0f</text>\n",
                  L, W - R, py(v), py(v), L - 6, py(v) + 4, v, px(s), H - B + 18, s);
    os << buf;
  }
  os << "<text x=\"" << W / 2 << "\" y=\"" << H - 10 << "\" text-anchor=\"middle\">step</text>\n";
  os << "<text x=\"16\" y=\"" << H / 2 << "\" transform=\"rotate(-90 16 " << H / 2
     << ")\" text-anchor=\"middle\">loss (nats/byte)</text>\n";
  // The curves.
  auto polyline = [&](bool val, const char* colour) {
    std::ostringstream pts;
    int n = 0;
    for (const auto& r : rows) {
      if (val && !r.val_loss) continue;
      std::snprintf(buf, sizeof buf, "%.1f,%.1f ", px(double(r.step)), py(val ? *r.val_loss : r.train_loss));
      pts << buf;
      ++n;
    }
    if (n) os << "<polyline fill=\"none\" stroke=\"" << colour << "\" stroke-width=\"" << (val ? 2.5 : 1.2)
              << "\" points=\"" << pts.str() << "\"/>\n";
  };
  polyline(false, "#1f77b4");
  polyline(true, "#d62728");
  std::snprintf(buf, sizeof buf,
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"3\" fill=\"#1f77b4\"/><text x=\"%.1f\" y=\"%.1f\">train</text>"
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"3\" fill=\"#d62728\"/><text x=\"%.1f\" y=\"%.1f\">validation</text>\n",
                W - R - 150, T + 6, W - R - 134, T + 11, W - R - 150, T + 22, W - R - 134, T + 27);
  os << buf << "</svg>\n";
  write_atomic(path, os.str());
}

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  long t = std::lround(s);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t / 60) % 60);
  else if (t >= 60)
    std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%lds", t);
  return buf;
}

Progress::Progress(int64_t first_step, int64_t last_step, bool tty)
    : first_(first_step), last_(last_step), tty_(tty), start_(std::chrono::steady_clock::now()) {}

void Progress::update(int64_t step, double loss, double tokens_per_s, const std::string& phase) {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double done = double(step - first_);
  const double eta = done > 0 ? elapsed / done * double(last_ - step) : NAN;
  const int width = 24;
  const int filled = last_ > 0 ? int(width * double(step) / double(last_)) : width;
  std::string bar(std::clamp(filled, 0, width), '#');
  bar.resize(width, '.');
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s [%s] step %lld/%lld  loss %.4f  %.0f tok/s  ETA %s", phase.c_str(), bar.c_str(),
                static_cast<long long>(step), static_cast<long long>(last_), loss, tokens_per_s,
                format_duration(eta).c_str());
  last_line_ = buf;
  if (tty_) {
    std::cout << "\r" << last_line_ << "\033[K" << std::flush;
    drawn_ = true;
  } else if (step % 10 == 0 || step == last_ || step == first_ + 1) {
    std::cout << last_line_ << "\n" << std::flush;
  }
}

void Progress::message(const std::string& text) {
  if (tty_ && drawn_) std::cout << "\r\033[K";
  std::cout << text << "\n";
  if (tty_ && drawn_) std::cout << last_line_ << std::flush;
}

void Progress::finish() {
  if (tty_ && drawn_) std::cout << "\n";
  drawn_ = false;
}

}  // namespace mica_train
