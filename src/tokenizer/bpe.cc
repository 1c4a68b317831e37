// Byte-level BPE and SentencePiece BPE merge loops; see bpe.h.
#include "tokenizer/bpe.h"

#include <algorithm>
#include <limits>

#include "tokenizer/unicode.h"

namespace moe {

void BpeMerges::Grow() {
  std::vector<Entry> old = std::move(slots_);
  slots_.assign(old.empty() ? 1024 : old.size() * 2, Entry{});
  const size_t mask = slots_.size() - 1;
  for (const Entry& e : old) {
    if (e.key == kEmpty) continue;
    size_t h = Hash(e.key) & mask;
    while (slots_[h].key != kEmpty) h = (h + 1) & mask;
    slots_[h] = e;
  }
}

bool BpeMerges::Add(int32_t left, int32_t right, int32_t rank, int32_t result) {
  if ((size_ + 1) * 2 > slots_.size()) Grow();  // load factor <= 1/2
  const uint64_t key = Key(left, right);
  const size_t mask = slots_.size() - 1;
  size_t h = Hash(key) & mask;
  while (slots_[h].key != kEmpty) {
    if (slots_[h].key == key) return false;
    h = (h + 1) & mask;
  }
  slots_[h] = Entry{key, rank, result};
  ++size_;
  return true;
}

const BpeMerges::Entry* BpeMerges::Find(int32_t left, int32_t right) const {
  if (slots_.empty()) return nullptr;
  const uint64_t key = Key(left, right);
  const size_t mask = slots_.size() - 1;
  size_t h = Hash(key) & mask;
  while (true) {
    const Entry& e = slots_[h];
    if (e.key == key) return &e;
    if (e.key == kEmpty) return nullptr;
    h = (h + 1) & mask;
  }
}

namespace {

constexpr int32_t kDeleted = -2;

// std::push_heap keeps the "largest" on top; the best BPE candidate is the lowest rank, then
// the leftmost position.
bool BpeWorse(const BpeScratch::Cand& a, const BpeScratch::Cand& b) {
  return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
}
// SPM: the highest score first, then the leftmost position.
bool SpmWorse(const BpeScratch::Cand& a, const BpeScratch::Cand& b) {
  return a.score < b.score || (a.score == b.score && a.left > b.left);
}

}  // namespace

namespace {

// Short words (most of them): keep the symbols in a flat array with the rank of merging each
// one with its right neighbour, and scan for the minimum; O(n^2) but no heap, and only the two
// pairs next to a merge are looked up again. Same order as the heap: lowest rank, leftmost.
void MergeShortWord(const BpeMerges& merges, std::span<const int32_t> ids,
                    std::vector<int32_t>* out) {
  constexpr int32_t kNone = std::numeric_limits<int32_t>::max();
  struct Part {
    int32_t id;
    int32_t rank;    // of merging with the next part; kNone if no merge
    int32_t result;  // the merged id
  };
  Part parts[BpeScratch::kShortWord];
  size_t n = ids.size();
  auto pair = [&](size_t i) {
    parts[i].rank = kNone;
    if (i + 1 >= n || parts[i].id < 0 || parts[i + 1].id < 0) return;
    if (const BpeMerges::Entry* e = merges.Find(parts[i].id, parts[i + 1].id)) {
      parts[i].rank = e->rank;
      parts[i].result = e->result;
    }
  };
  for (size_t i = 0; i < n; ++i) parts[i].id = ids[i];
  for (size_t i = 0; i < n; ++i) pair(i);
  while (true) {
    size_t best = 0;
    for (size_t i = 1; i < n; ++i) {
      if (parts[i].rank < parts[best].rank) best = i;
    }
    if (parts[best].rank == kNone) break;
    parts[best].id = parts[best].result;
    for (size_t i = best + 1; i + 1 < n; ++i) parts[i] = parts[i + 1];
    --n;
    pair(best);
    if (best > 0) pair(best - 1);
  }
  for (size_t i = 0; i < n; ++i) out->push_back(parts[i].id);
}

}  // namespace

void BpeMergeWord(const BpeMerges& merges, std::span<const int32_t> ids, BpeScratch* s,
                  std::vector<int32_t>* out) {
  const size_t n = ids.size();
  if (n <= 1) {
    if (n == 1) out->push_back(ids[0]);
    return;
  }
  if (n <= BpeScratch::kShortWord) {
    MergeShortWord(merges, ids, out);
    return;
  }
  auto& syms = s->syms;
  auto& heap = s->heap;
  syms.resize(n);
  for (size_t i = 0; i < n; ++i) {
    syms[i] = {ids[i], static_cast<int32_t>(i) - 1, i + 1 < n ? static_cast<int32_t>(i + 1) : -1};
  }
  heap.clear();
  auto candidate = [&](int32_t l, int32_t r, bool keep_heap) {
    if (l < 0 || r < 0) return;
    const int32_t a = syms[l].id;
    const int32_t b = syms[r].id;
    if (a < 0 || b < 0) return;
    const BpeMerges::Entry* e = merges.Find(a, b);
    if (!e) return;
    heap.push_back({e->rank, 0.0f, l, r, a, b, e->result, 0});
    if (keep_heap) std::push_heap(heap.begin(), heap.end(), BpeWorse);
  };
  for (size_t i = 1; i < n; ++i)
    candidate(static_cast<int32_t>(i - 1), static_cast<int32_t>(i), false);
  std::make_heap(heap.begin(), heap.end(), BpeWorse);

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), BpeWorse);
    const BpeScratch::Cand c = heap.back();
    heap.pop_back();
    BpeScratch::Sym& left = syms[c.left];
    BpeScratch::Sym& right = syms[c.right];
    // Stale when either side was merged away or changed since the candidate was made.
    if (left.next != c.right || left.id != c.left_id || right.id != c.right_id) continue;
    left.id = c.result;
    left.next = right.next;
    if (right.next >= 0) syms[right.next].prev = c.left;
    right.id = kDeleted;
    candidate(left.prev, c.left, true);
    candidate(c.left, left.next, true);
  }
  for (int32_t i = 0; i != -1; i = syms[i].next) out->push_back(syms[i].id);
}

void SpmEncode(std::string_view text, const PieceMap& pieces, std::span<const float> scores,
               const int32_t (&byte_ids)[256], BpeScratch* s, std::vector<int32_t>* out) {
  auto& syms = s->syms;
  auto& heap = s->heap;
  auto& offs = s->offs;
  auto& lens = s->lens;
  syms.clear();
  offs.clear();
  lens.clear();
  // One symbol per character; an ill-formed byte is a symbol of its own.
  for (size_t i = 0; i < text.size();) {
    const size_t n = std::max<size_t>(1, unicode::ValidSequenceLength(text, i));
    offs.push_back(static_cast<uint32_t>(i));
    lens.push_back(static_cast<uint32_t>(n));
    i += n;
  }
  const int32_t count = static_cast<int32_t>(offs.size());
  if (count == 0) return;
  syms.resize(count);
  for (int32_t i = 0; i < count; ++i) syms[i] = {0, i - 1, i + 1 < count ? i + 1 : -1};

  heap.clear();
  auto candidate = [&](int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    const std::string_view piece = text.substr(offs[l], lens[l] + lens[r]);
    auto it = pieces.find(piece);
    if (it == pieces.end()) return;
    const auto id = static_cast<size_t>(it->second);
    const float score = id < scores.size() ? scores[id] : 0.0f;
    heap.push_back({0, score, l, r, 0, 0, 0, static_cast<uint32_t>(piece.size())});
    std::push_heap(heap.begin(), heap.end(), SpmWorse);
  };
  for (int32_t i = 1; i < count; ++i) candidate(i - 1, i);

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), SpmWorse);
    const BpeScratch::Cand c = heap.back();
    heap.pop_back();
    // Lengths only grow (or drop to 0 when merged away), so an unchanged sum means neither
    // side changed since the candidate was made.
    if (lens[c.left] == 0 || lens[c.right] == 0 || lens[c.left] + lens[c.right] != c.size) continue;
    lens[c.left] += lens[c.right];
    lens[c.right] = 0;
    syms[c.left].next = syms[c.right].next;
    if (syms[c.right].next >= 0) syms[syms[c.right].next].prev = c.left;
    candidate(syms[c.left].prev, c.left);
    candidate(c.left, syms[c.left].next);
  }

  for (int32_t i = 0; i != -1; i = syms[i].next) {
    const std::string_view piece = text.substr(offs[i], lens[i]);
    auto it = pieces.find(piece);
    if (it != pieces.end()) {
      out->push_back(it->second);
      continue;
    }
    for (char ch : piece) {
      const int32_t b = byte_ids[static_cast<uint8_t>(ch)];
      if (b >= 0) out->push_back(b);
    }
  }
}

}  // namespace moe
