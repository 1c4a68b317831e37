// Internal state shared by the Tokenizer loaders (GGUF, tokenizer.json) and the encode/decode
// paths. Not part of the public API.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tokenizer/bpe.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"

namespace moe {

struct Tokenizer::Impl {
  // Token attributes beyond the type (llama_token_attr LSTRIP/RSTRIP): when a special token
  // is matched in the text, whitespace on that side of it is dropped.
  static constexpr uint8_t kLstrip = 1;
  static constexpr uint8_t kRstrip = 2;

  std::string source;  // file name, for messages
  bool spm = false;
  std::string pre;
  std::vector<std::string> pieces;
  std::vector<float> scores;
  std::vector<TokenType> types;
  std::vector<uint8_t> strip;
  PieceMap piece_to_id;
  size_t max_piece_len = 0;

  int32_t bos = -1, eos = -1, eot = -1, eom = -1, unk = -1, pad = -1;
  bool add_bos = false;
  bool add_eos = false;
  bool add_space_prefix = false;
  bool ignore_merges = false;

  std::vector<uint8_t> eog;       // per id
  std::vector<int32_t> specials;  // control, user-defined, unknown; longest text first
  // Byte trie over the special texts, to find in one pass which of them occur in a text.
  struct TrieNode {
    bool terminal = false;
    std::vector<std::pair<uint8_t, int32_t>> kids;
  };
  std::vector<TrieNode> trie;
  int32_t trie_root[256];             // node after the first byte, -1 if none
  std::vector<int32_t> special_node;  // per entry of `specials`: its terminal trie node
  std::vector<std::string> bytes;     // per id: what Decode writes
  RegexSplitter splitter;
  BpeMerges merges;
  // SentencePiece: every pair of adjacent characters found inside some piece (value unused).
  // Where two neighbouring characters of a text form no such pair, no merge can ever join
  // them, so the text is encoded in independent segments split there: same result, small
  // merge queues.
  BpeMerges spm_pairs;
  // BPE: id of each byte's GPT-2 code point; SPM: the <0xXX> fallback token. -1 when none.
  int32_t byte_ids[256];
  std::vector<std::string> warnings;

  int32_t Find(std::string_view piece) const {
    auto it = piece_to_id.find(piece);
    return it == piece_to_id.end() ? -1 : it->second;
  }
  bool Valid(int32_t id) const { return id >= 0 && static_cast<size_t>(id) < pieces.size(); }

  // Once pieces/scores/types, special ids and flags are set: builds the lookup map, the
  // special-token list and trie, the EOG set, byte tables and decoded pieces.
  Status Finish();
  // Adds one BPE merge (call in rank order); both parts and the joined result must be
  // vocabulary pieces. `where` names the merge in errors ("tokenizer.ggml.merges[12]").
  Status AddMerge(size_t rank, std::string_view left, std::string_view right,
                  const std::string& where);

  // Byte trie over the texts of `specials`; fills trie, trie_root and special_node.
  void BuildSpecialTrie();
  // seen[node] = 1 for every terminal trie node whose text occurs in `text`.
  void MarkSpecialsPresent(std::string_view text, std::vector<uint8_t>* seen) const;

  // Buffers for one Encode call, reused across its text fragments.
  struct EncodeState {
    BpeScratch scratch;
    std::vector<TextSpan> spans;
    std::string buf;
    std::vector<int32_t> word_ids;
    // Words repeat (Zipf): ids of short words already encoded in this call, as
    // (offset, count) into cached_ids. Keys point into the text being encoded.
    std::unordered_map<std::string_view, std::pair<uint32_t, uint32_t>, StringHash> cache;
    std::vector<int32_t> cached_ids;
  };
  // Byte-level BPE of one pre-tokenized piece.
  void EncodeWord(std::string_view word, EncodeState* st, std::vector<int32_t>* out) const;
  // One raw text fragment (no special tokens in it); `prefix_space` adds SentencePiece's space.
  void EncodeText(std::string_view text, bool prefix_space, EncodeState* st,
                  std::vector<int32_t>* out) const;
};

}  // namespace moe
