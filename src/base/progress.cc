#include "base/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

namespace moe {

Progress::Progress(std::string label, uint64_t total_bytes, bool enabled)
    : label_(std::move(label)), total_(total_bytes), enabled_(enabled) {}

void Progress::Update(uint64_t done) {
  if (!enabled_) return;
  double t = timer_.Seconds();
  if (done < total_ && t - last_print_ < 0.1) return;
  last_print_ = t;
  double frac = total_ ? static_cast<double>(done) / total_ : 1.0;
  int width = 30, filled = static_cast<int>(frac * width);
  std::string bar(filled, '#');
  bar.resize(width, '.');
  double gbs = t > 0 ? done / t / 1e9 : 0.0;
  fmt::print(stderr, "\r{} [{}] {:5.1f}% {:.2f}/{:.2f} GB {:.2f} GB/s", label_, bar, frac * 100,
             done / 1e9, total_ / 1e9, gbs);
  std::fflush(stderr);
}

void Progress::Finish() {
  if (!enabled_) return;
  Update(total_);
  fmt::print(stderr, "\n");
}

}  // namespace moe
