// A one-line progress bar on stderr for long work (loading weights), with throughput.
// Prints nothing when stderr is not a terminal unless forced, so logs stay clean.
#pragma once

#include <cstdint>
#include <string>

#include "base/timer.h"

namespace moe {
class Progress {
 public:
  Progress(std::string label, uint64_t total_bytes, bool enabled);
  void Update(uint64_t done_bytes);
  void Finish();

 private:
  std::string label_;
  uint64_t total_;
  bool enabled_;
  Timer timer_;
  double last_print_ = -1;
};
}  // namespace moe
