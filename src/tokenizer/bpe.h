// The two merge algorithms: rank-ordered byte-level BPE over token ids (GPT-2 family) and
// score-ordered SentencePiece BPE over text (`tokenizer.ggml.model` = "llama"). Both follow
// llama.cpp's llm_tokenizer_bpe_session / llm_tokenizer_spm_session: the lowest rank (highest
// score) adjacent pair merges first, the leftmost pair on ties.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace moe {

// Hash for string-keyed maps that can be probed with a string_view.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using PieceMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

// Merge table keyed by the (left, right) token id pair: open addressing, linear probing.
class BpeMerges {
 public:
  struct Entry {
    uint64_t key = kEmpty;
    int32_t rank = 0;
    int32_t result = 0;
  };
  static constexpr uint64_t kEmpty = ~0ull;

  // Adds a merge; a pair already present keeps its earlier (lower) rank. Returns false then.
  bool Add(int32_t left, int32_t right, int32_t rank, int32_t result);
  // The merge of (left, right), or nullptr.
  const Entry* Find(int32_t left, int32_t right) const;
  size_t size() const { return size_; }

 private:
  static uint64_t Key(int32_t l, int32_t r) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(l)) << 32) | static_cast<uint32_t>(r);
  }
  static size_t Hash(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return static_cast<size_t>(k);
  }
  void Grow();
  std::vector<Entry> slots_;
  size_t size_ = 0;
};

// Reusable buffers for one Encode call (not shared between threads).
struct BpeScratch {
  // Words up to this many bytes take the heap-free path.
  static constexpr size_t kShortWord = 24;
  struct Sym {
    int32_t id;
    int32_t prev;
    int32_t next;
  };
  // A candidate merge of adjacent symbols `left` and `right` (indices into syms).
  struct Cand {
    int32_t rank;  // BPE: merge rank (lower first)
    float score;   // SPM: score of the merged piece (higher first)
    int32_t left;
    int32_t right;
    int32_t left_id;  // BPE: the pair's ids when the candidate was made, to detect staleness
    int32_t right_id;
    int32_t result;  // BPE: merged id
    uint32_t size;   // SPM: byte length of the merged piece
  };
  std::vector<Sym> syms;
  std::vector<Cand> heap;
  std::vector<uint32_t> offs;  // SPM: byte offset of each symbol
  std::vector<uint32_t> lens;  // SPM: byte length of each symbol
};

// Applies `merges` to the initial symbols `ids` (one per byte of the piece; -1 for a byte with
// no token, which never merges) and appends the final ids, -1 kept, to `out`.
void BpeMergeWord(const BpeMerges& merges, std::span<const int32_t> ids, BpeScratch* scratch,
                  std::vector<int32_t>* out);

// SentencePiece-style BPE over `text` (spaces already escaped to U+2581). Adjacent symbols
// merge when their concatenation is a piece; `scores` orders the merges. Symbols that never
// form a piece are emitted as `byte_ids` (one per byte; -1 bytes are dropped).
void SpmEncode(std::string_view text, const PieceMap& pieces, std::span<const float> scores,
               const int32_t (&byte_ids)[256], BpeScratch* scratch, std::vector<int32_t>* out);

}  // namespace moe
