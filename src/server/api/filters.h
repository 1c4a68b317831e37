// Streaming filters over generated text, applied per decoded piece: StopFilter first (on the
// raw text), then ReasoningSplitter. Both only ever emit whole UTF-8 characters while
// streaming: an incomplete multi-byte sequence at the end of the text seen so far is held
// back until it completes (Flush returns whatever is left, complete or not).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace moe {

// Cuts the output before the first occurrence of any stop string. The concatenation of all
// Push and Flush results equals text.substr(0, p), p = the smallest position where any stop
// occurs in the whole text (or the whole text), however the text is split into pieces.
class StopFilter {
 public:
  explicit StopFilter(std::vector<std::string> stops);  // empty strings are ignored

  // Appends `piece`; returns the text that can no longer be part of a stop match.
  std::string Push(std::string_view piece);
  // End of generation: returns the held-back text (cut at a stop if one is complete).
  std::string Flush();
  // A stop string was matched; generation should end and Push returns "" from now on.
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

// Splits a model's output into reasoning (inside <think>...</think>) and content. The tags
// are never emitted; partial tags are held back; whitespace right after the close tag is
// dropped from content. When not starting in reasoning, an output that begins (after
// optional whitespace) with the open tag enters reasoning; an open tag later is content.
class ReasoningSplitter {
 public:
  struct Delta {
    std::string reasoning;
    std::string content;
  };

  explicit ReasoningSplitter(bool starts_in_reasoning, std::string open = "<think>", std::string close = "</think>");

  Delta Push(std::string_view piece);
  Delta Flush();  // held-back text: a partial close tag stays reasoning, anything else content
  bool in_reasoning() const { return in_reasoning_; }

 private:
  std::string open_, close_;
  std::string held_;
  bool in_reasoning_;
  bool at_start_;             // no content emitted yet: an open tag may still begin the output
  size_t start_space_ = 0;    // while at_start_: leading whitespace bytes of held_ already scanned
  bool strip_space_ = false;  // just closed: drop leading whitespace from content
};

// True when the rendered prompt ends with `open` (trailing whitespace ignored), i.e. the
// template opened a think block the model is expected to continue and close.
bool PromptOpensThinkBlock(std::string_view rendered_prompt, std::string_view open = "<think>");

// Length of the longest prefix of `s` that does not end inside an incomplete UTF-8
// multi-byte sequence. Invalid bytes count as complete (they are not held forever).
size_t CompleteUtf8Prefix(std::string_view s);

}  // namespace moe
