// StopFilter, ReasoningSplitter and their UTF-8 boundary helper.
#include "server/api/filters.h"

#include <algorithm>
#include <utility>

namespace moe {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

// Length of the longest proper prefix of `tag` that `s` ends with (0 if none): those bytes
// may be the start of the tag and must be held back.
size_t PartialSuffix(std::string_view s, std::string_view tag) {
  for (size_t n = std::min(s.size(), tag.size() - 1); n > 0; --n) {
    if (s.substr(s.size() - n) == tag.substr(0, n)) return n;
  }
  return 0;
}

}  // namespace

size_t CompleteUtf8Prefix(std::string_view s) {
  // Walk back over at most 3 continuation bytes (10xxxxxx) to the lead byte.
  size_t i = s.size();
  size_t cont = 0;
  while (i > 0 && cont < 3 && (static_cast<unsigned char>(s[i - 1]) & 0xC0) == 0x80) --i, ++cont;
  if (i == 0) return s.size();
  const auto lead = static_cast<unsigned char>(s[i - 1]);
  size_t need = (lead & 0xE0) == 0xC0 ? 2 : (lead & 0xF0) == 0xE0 ? 3 : (lead & 0xF8) == 0xF0 ? 4 : 0;
  if (need == 0) return s.size();  // ASCII or an invalid lead byte: nothing to wait for
  return cont + 1 < need ? i - 1 : s.size();
}

StopFilter::StopFilter(std::vector<std::string> stops) {
  for (auto& s : stops)
    if (!s.empty()) stops_.push_back(std::move(s));
}

std::string StopFilter::Push(std::string_view piece) {
  if (stopped_) return "";
  held_ += piece;
  // The earliest position where a stop starts or may still start: the first complete
  // match, or an earlier suffix that is a proper prefix of some stop.
  size_t match = std::string::npos;
  for (const auto& s : stops_) match = std::min(match, held_.find(s));
  size_t first = match;
  size_t max_len = 0;
  for (const auto& s : stops_) max_len = std::max(max_len, s.size());
  size_t from = held_.size() >= max_len ? held_.size() - max_len + 1 : 0;
  for (size_t p = from; p < std::min(first, held_.size()); ++p) {
    std::string_view rest = std::string_view(held_).substr(p);
    bool partial = std::any_of(stops_.begin(), stops_.end(), [&](const std::string& s) {
      return rest.size() < s.size() && std::string_view(s).substr(0, rest.size()) == rest;
    });
    if (partial) {
      first = p;
      break;
    }
  }
  std::string out;
  if (first != std::string::npos && first == match) {  // no earlier candidate: stop here
    out = held_.substr(0, match);
    held_.clear();
    stopped_ = true;
    return out;
  }
  size_t emit = CompleteUtf8Prefix(std::string_view(held_).substr(0, std::min(first, held_.size())));
  out = held_.substr(0, emit);
  held_.erase(0, emit);
  return out;
}

std::string StopFilter::Flush() {
  if (stopped_) return "";
  size_t match = std::string::npos;
  for (const auto& s : stops_) match = std::min(match, held_.find(s));
  std::string out = match == std::string::npos ? std::move(held_) : held_.substr(0, match);
  stopped_ = match != std::string::npos;
  held_.clear();
  return out;
}

ReasoningSplitter::ReasoningSplitter(bool starts_in_reasoning, std::string open, std::string close)
    : open_(std::move(open)),
      close_(std::move(close)),
      in_reasoning_(starts_in_reasoning),
      at_start_(!starts_in_reasoning) {}

ReasoningSplitter::Delta ReasoningSplitter::Push(std::string_view piece) {
  Delta d;
  held_ += piece;
  while (!held_.empty()) {
    if (in_reasoning_) {
      size_t pos = held_.find(close_);
      if (pos != std::string::npos) {
        d.reasoning.append(held_, 0, pos);
        held_.erase(0, pos + close_.size());
        in_reasoning_ = false;
        at_start_ = false;
        strip_space_ = true;
        continue;
      }
      size_t emit = CompleteUtf8Prefix(std::string_view(held_).substr(0, held_.size() - PartialSuffix(held_, close_)));
      d.reasoning.append(held_, 0, emit);
      held_.erase(0, emit);
      break;
    }
    if (strip_space_) {
      size_t n = 0;
      while (n < held_.size() && IsSpace(held_[n])) ++n;
      held_.erase(0, n);
      if (held_.empty()) break;
      strip_space_ = false;
    }
    if (at_start_) {
      size_t n = start_space_;  // resume the scan: a long run of spaces stays linear
      while (n < held_.size() && IsSpace(held_[n])) ++n;
      start_space_ = n;
      std::string_view rest = std::string_view(held_).substr(n);
      if (rest.substr(0, open_.size()) == open_) {
        held_.erase(0, n + open_.size());
        in_reasoning_ = true;
        at_start_ = false;
        continue;
      }
      if (rest.size() < open_.size() && std::string_view(open_).substr(0, rest.size()) == rest)
        break;  // may still open
      at_start_ = false;
    }
    size_t emit = CompleteUtf8Prefix(held_);
    d.content.append(held_, 0, emit);
    held_.erase(0, emit);
    break;
  }
  return d;
}

ReasoningSplitter::Delta ReasoningSplitter::Flush() {
  Delta d;
  if (in_reasoning_)
    d.reasoning = std::move(held_);
  else if (!strip_space_)
    d.content = std::move(held_);  // after </think>, held text is only whitespace
  held_.clear();
  at_start_ = false;
  return d;
}

bool PromptOpensThinkBlock(std::string_view rendered_prompt, std::string_view open) {
  while (!rendered_prompt.empty() && IsSpace(rendered_prompt.back())) rendered_prompt.remove_suffix(1);
  return !open.empty() && rendered_prompt.ends_with(open);
}

}  // namespace moe
