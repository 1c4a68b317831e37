// Text <-> token ids for the vocabularies GGUF files carry (`tokenizer.ggml.*`): byte-level
// BPE with a regex pre-tokenizer chosen by `tokenizer.ggml.pre` (GPT-2, Llama 3, Qwen2,
// DeepSeek LLM/Coder/V3, StarCoder, ...) and SentencePiece-style BPE with scores and <0xXX>
// byte fallback (`tokenizer.ggml.model` = "llama"). Also loads Hugging Face tokenizer.json
// files for byte-level BPE. Output matches llama.cpp's llama_tokenize/llama_detokenize.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace moe {

class GgufFile;

// GGUF `tokenizer.ggml.token_type` values (llama_token_type).
enum class TokenType : uint8_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

class Tokenizer {
 public:
  // Reads tokenizer.ggml.{model,pre,tokens,token_type,scores,merges,*_token_id,add_*}.
  // Errors name the key and what was wrong with it.
  static Result<std::unique_ptr<Tokenizer>> FromGguf(const GgufFile& gguf);
  // Hugging Face tokenizer.json (model.type "BPE" with a ByteLevel pre-tokenizer, optionally
  // in a Sequence with Split/Digits) plus, optionally, tokenizer_config.json for
  // add_bos_token/add_eos_token and the bos/eos token names.
  static Result<std::unique_ptr<Tokenizer>> FromHfJson(const nlohmann::json& tokenizer_json,
                                                       const nlohmann::json* tokenizer_config);
  // The `tokenizer.ggml.pre` name under which FromGguf splits text as this tokenizer.json's
  // pre_tokenizer does (same pieces of a probe text covering digit runs, whitespace, newlines,
  // contractions, punctuation, CJK and emoji; same ignore_merges), trying `preferred` first.
  // For writing a GGUF; an error when no name llama.cpp knows splits the same way.
  static Result<std::string> GgufPreName(const nlohmann::json& tokenizer_json, std::string_view preferred);

  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // add_special: BOS/EOS as the metadata's add_bos_token/add_eos_token say. parse_special:
  // control tokens written in the text (e.g. "<|im_start|>") become their ids; user-defined
  // (added) tokens are always matched, as in Hugging Face tokenizers. Any bytes are accepted,
  // ill-formed UTF-8 included. Thread-safe.
  std::vector<int32_t> Encode(std::string_view text, bool add_special, bool parse_special) const;

  // Concatenated pieces; ids out of range are skipped. skip_special drops control/unknown
  // tokens (otherwise their text is written). For SentencePiece vocabularies the space Encode
  // put in front of the text is removed again. The result can end inside a UTF-8 sequence
  // when the ids do; use StreamDecoder for incremental output.
  std::string Decode(std::span<const int32_t> ids, bool skip_special = false) const;

  // The raw vocabulary string of `id` ("Ġhello", "▁the", "<0x0A>"); empty when out of range.
  std::string TokenPiece(int32_t id) const;
  // The bytes `id` stands for in decoded text (what Decode writes for it, special text
  // included); empty when out of range.
  std::string_view TokenBytes(int32_t id) const;
  TokenType token_type(int32_t id) const;

  // -1 when the vocabulary has none.
  int32_t bos_id() const;
  int32_t eos_id() const;
  int32_t eot_id() const;
  int32_t unk_id() const;
  int32_t pad_id() const;
  bool add_bos() const;
  bool add_eos() const;
  // End of generation: eos, eot, eom and the end-of-turn tokens llama.cpp recognizes by
  // text (<|im_end|>, <|eot_id|>, <|end|>, <|endoftext|>, <end_of_turn>, ...).
  bool IsEog(int32_t id) const;
  // Every end-of-generation id of the vocabulary, ascending (a generation's stop ids).
  std::vector<int32_t> EogIds() const;
  bool IsSpecial(int32_t id) const;  // control, unknown or user-defined
  // The id of an exact vocabulary string, or -1.
  int32_t FindToken(std::string_view piece) const;
  size_t vocab_size() const;
  bool is_spm() const;  // SentencePiece-style (otherwise byte-level BPE)
  const std::string& pre_tokenizer() const;
  // Load-time notes that are not errors (unknown pre-tokenizer name, ...).
  const std::vector<std::string>& warnings() const;

  struct Impl;

 private:
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  friend class StreamDecoder;
  std::unique_ptr<Impl> impl_;
};

// Streaming detokenizer: feed ids one at a time; every returned chunk is valid UTF-8 and never
// ends inside a character (bytes that cannot become valid UTF-8 are written as U+FFFD).
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special = false);
  std::string Push(int32_t id);
  // Whatever is still held back (an unfinished character becomes U+FFFD); resets the decoder.
  std::string Flush();

 private:
  std::string Drain(bool final);
  const Tokenizer& tok_;
  bool skip_special_;
  bool at_start_ = true;  // SentencePiece: strip the prefix space of the first text token
  std::string pending_;
};

}  // namespace moe
