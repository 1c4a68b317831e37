// Tokenizer encode/decode and the vocabulary post-processing shared by all loaders (special
// token list, end-of-generation set, decoded pieces). Mirrors llama.cpp's llama_vocab::impl
// tokenize / token_to_piece / detokenize.
#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <cstdio>
#include <unordered_map>
#include <utility>

#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"

namespace moe {
namespace {

constexpr std::string_view kSpmSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's space

bool IsAsciiSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// Text llama.cpp treats as end of generation wherever it appears in a vocabulary
// (llama_vocab::impl::load, "special_eog_ids").
constexpr std::string_view kEogTexts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<end_of_turn>",
    "<|endoftext|>", "<|eom_id|>", "<EOT>", "_<EOT>", "<|end_of_text|>", "<end_of_utterance>",
    // fill-in-the-middle pad/repo/file-separator tokens end generation too
    "<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<|fim_repo|>", "<|repo_name|>", "<fim-repo>",
    "<REPO>", "<reponame>", "<|file_sep|>"};
// Candidates for the end-of-turn token when `tokenizer.ggml.eot_token_id` is absent.
constexpr std::string_view kEotTexts[] = {
    "<|eot_id|>",      "<|im_end|>", "<|end|>", "<end_of_turn>",         "<|endoftext|>",
    "<|end_of_text|>", "<EOT>",      "_<EOT>",  "<｜end▁of▁sentence｜>", "<end_of_utterance>"};

std::string DecodeBytePiece(const std::string& piece, bool* ok) {
  // "<0xAB>" -> one byte
  *ok = false;
  if (piece.size() != 6 || piece.compare(0, 3, "<0x") != 0 || piece[5] != '>') return {};
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  const int hi = hex(piece[3]);
  const int lo = hex(piece[4]);
  if (hi < 0 || lo < 0) return {};
  *ok = true;
  return std::string(1, static_cast<char>(hi * 16 + lo));
}

// GPT-2 code points back to bytes; characters outside the table are kept as UTF-8.
std::string DecodeByteLevel(std::string_view piece) {
  std::string out;
  out.reserve(piece.size());
  size_t i = 0;
  while (i < piece.size()) {
    const size_t n = unicode::ValidSequenceLength(piece, i);
    if (n == 0) {
      out += piece[i++];
      continue;
    }
    const int b = unicode::CodePointToByte(unicode::DecodeValid(piece, i, n));
    if (b >= 0) {
      out += static_cast<char>(b);
    } else {
      out.append(piece.substr(i, n));
    }
    i += n;
  }
  return out;
}

// The character code SentencePiece segmentation uses: a code point, or 0x110000 + byte for a
// byte that is not part of well-formed UTF-8. Sets *len to its byte length.
int32_t CharCode(std::string_view s, size_t i, size_t* len) {
  const size_t n = unicode::ValidSequenceLength(s, i);
  if (n == 0) {
    *len = 1;
    return 0x110000 + static_cast<uint8_t>(s[i]);
  }
  *len = n;
  return static_cast<int32_t>(unicode::DecodeValid(s, i, n));
}

std::string ReplaceAll(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(s.size());
  size_t pos = 0;
  while (true) {
    const size_t m = s.find(from, pos);
    if (m == std::string_view::npos) break;
    out.append(s.substr(pos, m - pos));
    out.append(to);
    pos = m + from.size();
  }
  out.append(s.substr(pos));
  return out;
}

}  // namespace

Status Tokenizer::Impl::Finish() {
  const size_t n = pieces.size();
  scores.resize(n, 0.0f);
  types.resize(n, TokenType::kNormal);
  strip.assign(n, 0);
  piece_to_id.clear();
  piece_to_id.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (pieces[i].empty()) pieces[i] = "[EMPTY_" + std::to_string(i) + "]";  // as llama.cpp
    piece_to_id[pieces[i]] = static_cast<int32_t>(i);  // a duplicate maps to its last id
    max_piece_len = std::max(max_piece_len, pieces[i].size());
  }

  // End of turn / generation, found by text where the metadata does not say.
  if (eot < 0) {
    for (auto t : kEotTexts) {
      if (int32_t id = Find(t); id >= 0) {
        eot = id;
        break;
      }
    }
  }
  eog.assign(n, 0);
  auto mark_eog = [&](int32_t id) {
    if (!Valid(id)) return;
    eog[id] = 1;
    // A token that ends generation is control text even where the converter said otherwise.
    if (types[id] != TokenType::kControl) types[id] = TokenType::kControl;
  };
  for (auto t : kEogTexts) mark_eog(Find(t));
  mark_eog(eos);
  mark_eog(eot);
  mark_eog(eom);

  specials.clear();
  for (size_t i = 0; i < n; ++i) {
    const TokenType t = types[i];
    if (t == TokenType::kControl || t == TokenType::kUserDefined || t == TokenType::kUnknown) {
      specials.push_back(static_cast<int32_t>(i));
    }
  }
  std::stable_sort(specials.begin(), specials.end(),
                   [&](int32_t a, int32_t b) { return pieces[a].size() > pieces[b].size(); });
  BuildSpecialTrie();

  for (int b = 0; b < 256; ++b) {
    if (spm) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "<0x%02X>", b);
      int32_t id = Find(hex);
      if (id < 0) id = Find(std::string(1, static_cast<char>(b)));
      byte_ids[b] = id >= 0 ? id : unk;
    } else {
      byte_ids[b] = Find(unicode::ByteToUtf8()[b]);
    }
  }

  if (spm) {
    for (const std::string& p : pieces) {
      size_t len = 0;
      int32_t prev = -1;
      for (size_t k = 0; k < p.size(); k += len) {
        const int32_t c = CharCode(p, k, &len);
        if (prev >= 0) spm_pairs.Add(prev, c, 0, 0);
        prev = c;
      }
    }
  }

  bytes.assign(n, {});
  for (size_t i = 0; i < n; ++i) {
    const std::string& p = pieces[i];
    switch (types[i]) {
      case TokenType::kNormal:
        bytes[i] = spm ? ReplaceAll(p, kSpmSpace, " ") : DecodeByteLevel(p);
        break;
      case TokenType::kByte: {
        bool ok = false;
        bytes[i] = DecodeBytePiece(p, &ok);
        if (!ok) bytes[i] = spm ? ReplaceAll(p, kSpmSpace, " ") : DecodeByteLevel(p);
        break;
      }
      case TokenType::kControl:
      case TokenType::kUnknown:
      case TokenType::kUserDefined:
        bytes[i] = p;
        break;
      case TokenType::kUnused:
      case TokenType::kUndefined:
        break;
    }
  }
  return Status();
}

Status Tokenizer::Impl::AddMerge(size_t rank, std::string_view left, std::string_view right,
                                 const std::string& where) {
  const int32_t l = Find(left);
  const int32_t r = Find(right);
  if (l < 0 || r < 0) {
    return Status::Errorf("{}: {} = '{} {}': '{}' is not a token of the vocabulary", source, where,
                          left, right, l < 0 ? left : right);
  }
  std::string joined(left);
  joined += right;
  const int32_t result = Find(joined);
  if (result < 0) {
    return Status::Errorf(
        "{}: {} = '{} {}': the merged piece '{}' is not a token of the "
        "vocabulary",
        source, where, left, right, joined);
  }
  merges.Add(l, r, static_cast<int32_t>(rank), result);  // a repeated pair keeps its first rank
  return Status();
}

void Tokenizer::Impl::BuildSpecialTrie() {
  trie.assign(1, TrieNode{});
  std::fill(std::begin(trie_root), std::end(trie_root), -1);
  special_node.clear();
  for (int32_t id : specials) {
    const std::string& s = pieces[id];
    int32_t node = 0;
    for (size_t k = 0; k < s.size(); ++k) {
      const auto b = static_cast<uint8_t>(s[k]);
      int32_t next = -1;
      if (node == 0) {
        next = trie_root[b];
      } else {
        for (const auto& [kb, kn] : trie[node].kids) {
          if (kb == b) next = kn;
        }
      }
      if (next < 0) {
        next = static_cast<int32_t>(trie.size());
        trie.emplace_back();
        if (node == 0) {
          trie_root[b] = next;
        } else {
          trie[node].kids.emplace_back(b, next);
        }
      }
      node = next;
    }
    trie[node].terminal = true;
    special_node.push_back(node);
  }
}

void Tokenizer::Impl::MarkSpecialsPresent(std::string_view text, std::vector<uint8_t>* seen) const {
  seen->assign(trie.size(), 0);
  const size_t n = text.size();
  for (size_t i = 0; i < n; ++i) {
    int32_t node = trie_root[static_cast<uint8_t>(text[i])];
    size_t j = i + 1;
    while (node >= 0) {
      if (trie[node].terminal) (*seen)[node] = 1;
      if (j >= n) break;
      const auto b = static_cast<uint8_t>(text[j++]);
      int32_t next = -1;
      for (const auto& [kb, kn] : trie[node].kids) {
        if (kb == b) {
          next = kn;
          break;
        }
      }
      node = next;
    }
  }
}

void Tokenizer::Impl::EncodeText(std::string_view text, bool prefix_space, EncodeState* st,
                                 std::vector<int32_t>* out) const {
  // Offsets inside the pre-tokenizer are 32-bit: encode giant texts in 1 GiB pieces, cut at
  // a character start.
  constexpr size_t kMaxChunk = size_t{1} << 30;
  while (text.size() > kMaxChunk) {
    size_t cut = kMaxChunk;
    while (cut > kMaxChunk - 4 && (static_cast<uint8_t>(text[cut]) & 0xC0) == 0x80) --cut;
    EncodeText(text.substr(0, cut), prefix_space, st, out);
    text.remove_prefix(cut);
    prefix_space = false;
  }
  if (spm) {
    std::string& buf = st->buf;
    buf.clear();
    if (prefix_space) buf += ' ';
    buf.append(text);
    buf = ReplaceAll(buf, " ", kSpmSpace);
    const std::string_view all = buf;
    size_t seg = 0;
    size_t len = 0;
    int32_t prev = -1;
    for (size_t k = 0; k < all.size(); k += len) {
      const int32_t c = CharCode(all, k, &len);
      if (prev >= 0 && !spm_pairs.Find(prev, c)) {
        SpmEncode(all.substr(seg, k - seg), piece_to_id, scores, byte_ids, &st->scratch, out);
        seg = k;
      }
      prev = c;
    }
    SpmEncode(all.substr(seg), piece_to_id, scores, byte_ids, &st->scratch, out);
    return;
  }
  splitter.Split(text, &st->spans);
  constexpr size_t kMaxCachedWord = 48;
  auto& cache = st->cache;
  auto& cached_ids = st->cached_ids;
  for (const TextSpan& s : st->spans) {
    const std::string_view word = text.substr(s.begin, s.end - s.begin);
    const size_t first = out->size();
    if (word.size() <= kMaxCachedWord) {
      auto it = cache.find(word);
      if (it != cache.end()) {
        out->insert(out->end(), cached_ids.begin() + it->second.first,
                    cached_ids.begin() + it->second.first + it->second.second);
        continue;
      }
    }
    EncodeWord(word, st, out);
    if (word.size() <= kMaxCachedWord) {
      cache.emplace(word, std::make_pair(static_cast<uint32_t>(cached_ids.size()),
                                         static_cast<uint32_t>(out->size() - first)));
      cached_ids.insert(cached_ids.end(), out->begin() + first, out->end());
    }
  }
}

void Tokenizer::Impl::EncodeWord(std::string_view word, EncodeState* st,
                                 std::vector<int32_t>* out) const {
  std::string* buf = &st->buf;
  std::vector<int32_t>* word_ids = &st->word_ids;
  if (ignore_merges && word.size() <= max_piece_len) {
    const auto& to_utf8 = unicode::ByteToUtf8();
    buf->clear();
    for (char c : word) *buf += to_utf8[static_cast<uint8_t>(c)];
    if (int32_t id = Find(*buf); id >= 0) {
      out->push_back(id);
      return;
    }
  }
  word_ids->clear();
  for (char c : word) word_ids->push_back(byte_ids[static_cast<uint8_t>(c)]);
  const size_t first = out->size();
  BpeMergeWord(merges, *word_ids, &st->scratch, out);
  // A byte without a token (incomplete vocabulary) becomes <unk> if there is one.
  size_t w = first;
  for (size_t k = first; k < out->size(); ++k) {
    const int32_t id = (*out)[k] >= 0 ? (*out)[k] : unk;
    if (id >= 0) (*out)[w++] = id;
  }
  out->resize(w);
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

std::vector<int32_t> Tokenizer::Encode(std::string_view text, bool add_special,
                                       bool parse_special) const {
  const Impl& m = *impl_;
  // Fragments of the text: raw ranges, or a special token matched in it (token >= 0).
  struct Fragment {
    size_t begin;
    size_t end;
    int32_t token;
  };
  std::vector<Fragment> frags;
  if (!text.empty()) frags.push_back({0, text.size(), -1});
  // llama.cpp's tokenizer_st_partition: each special token, longest first, splits every raw
  // fragment at its occurrences. Control/unknown tokens only when parse_special.
  std::vector<Fragment> next;
  std::vector<uint8_t> seen;
  if (!m.specials.empty() && !text.empty()) m.MarkSpecialsPresent(text, &seen);
  for (size_t k = 0; k < m.specials.size() && !text.empty(); ++k) {
    const int32_t id = m.specials[k];
    const TokenType t = m.types[id];
    if (!parse_special && (t == TokenType::kControl || t == TokenType::kUnknown)) continue;
    if (!seen[m.special_node[k]]) continue;
    const std::string& tok = m.pieces[id];
    const bool lstrip = m.strip[id] & Impl::kLstrip;
    const bool rstrip = m.strip[id] & Impl::kRstrip;
    next.clear();
    for (const Fragment& f : frags) {
      if (f.token >= 0) {
        next.push_back(f);
        continue;
      }
      const std::string_view region = text.substr(0, f.end);
      size_t pos = f.begin;
      while (pos < f.end) {
        const size_t hit = region.find(tok, pos);
        if (hit == std::string_view::npos) {
          next.push_back({pos, f.end, -1});
          break;
        }
        size_t left_end = hit;
        if (lstrip) {
          while (left_end > pos && IsAsciiSpace(text[left_end - 1])) --left_end;
        }
        if (left_end > pos) next.push_back({pos, left_end, -1});
        next.push_back({hit, hit + tok.size(), id});
        pos = hit + tok.size();
        if (rstrip) {
          while (pos < f.end && IsAsciiSpace(text[pos])) ++pos;
        }
      }
    }
    frags.swap(next);
  }

  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  if (add_special && m.add_bos && m.bos >= 0) out.push_back(m.bos);
  Impl::EncodeState state;
  bool prev_special = true;  // SentencePiece: a space goes in front of the first text
  for (const Fragment& f : frags) {
    if (f.token >= 0) {
      out.push_back(f.token);
      prev_special = true;
      continue;
    }
    m.EncodeText(text.substr(f.begin, f.end - f.begin), m.add_space_prefix && prev_special, &state,
                 &out);
    prev_special = false;
  }
  if (add_special && m.add_eos && m.eos >= 0) out.push_back(m.eos);
  return out;
}

std::string Tokenizer::Decode(std::span<const int32_t> ids, bool skip_special) const {
  std::string out;
  // Same rules as the stream decoder, without the UTF-8 holding back.
  const Impl& m = *impl_;
  bool at_start = true;
  for (int32_t id : ids) {
    if (!m.Valid(id)) continue;
    const TokenType t = m.types[id];
    if (skip_special && (t == TokenType::kControl || t == TokenType::kUnknown)) continue;
    std::string_view piece = m.bytes[id];
    if (at_start && m.spm && m.add_space_prefix) {
      if (id == m.bos) {
        out.append(piece);
        continue;
      }
      if (!piece.empty() && piece[0] == ' ') piece.remove_prefix(1);
    }
    at_start = false;
    out.append(piece);
  }
  return out;
}

std::string Tokenizer::TokenPiece(int32_t id) const {
  return impl_->Valid(id) ? impl_->pieces[id] : std::string();
}
std::string_view Tokenizer::TokenBytes(int32_t id) const {
  return impl_->Valid(id) ? std::string_view(impl_->bytes[id]) : std::string_view();
}
TokenType Tokenizer::token_type(int32_t id) const {
  return impl_->Valid(id) ? impl_->types[id] : TokenType::kUndefined;
}
int32_t Tokenizer::bos_id() const { return impl_->bos; }
int32_t Tokenizer::eos_id() const { return impl_->eos; }
int32_t Tokenizer::eot_id() const { return impl_->eot; }
int32_t Tokenizer::unk_id() const { return impl_->unk; }
int32_t Tokenizer::pad_id() const { return impl_->pad; }
bool Tokenizer::add_bos() const { return impl_->add_bos; }
bool Tokenizer::add_eos() const { return impl_->add_eos; }
bool Tokenizer::IsEog(int32_t id) const { return impl_->Valid(id) && impl_->eog[id]; }
std::vector<int32_t> Tokenizer::EogIds() const {
  std::vector<int32_t> ids;
  for (size_t id = 0; id < impl_->eog.size(); ++id)
    if (impl_->eog[id]) ids.push_back(static_cast<int32_t>(id));
  return ids;
}
bool Tokenizer::IsSpecial(int32_t id) const {
  const TokenType t = token_type(id);
  return t == TokenType::kControl || t == TokenType::kUnknown || t == TokenType::kUserDefined;
}
int32_t Tokenizer::FindToken(std::string_view piece) const { return impl_->Find(piece); }
size_t Tokenizer::vocab_size() const { return impl_->pieces.size(); }
bool Tokenizer::is_spm() const { return impl_->spm; }
const std::string& Tokenizer::pre_tokenizer() const { return impl_->pre; }
const std::vector<std::string>& Tokenizer::warnings() const { return impl_->warnings; }

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool skip_special)
    : tok_(tokenizer), skip_special_(skip_special) {}

std::string StreamDecoder::Push(int32_t id) {
  const Tokenizer::Impl& m = *tok_.impl_;
  if (!m.Valid(id)) return {};
  const TokenType t = m.types[id];
  if (skip_special_ && (t == TokenType::kControl || t == TokenType::kUnknown)) return {};
  std::string_view piece = m.bytes[id];
  if (at_start_ && m.spm && m.add_space_prefix && id != m.bos) {
    if (!piece.empty() && piece[0] == ' ') piece.remove_prefix(1);
    at_start_ = false;
  } else if (id != m.bos) {
    at_start_ = false;
  }
  pending_.append(piece);
  return Drain(false);
}

std::string StreamDecoder::Flush() {
  std::string out = Drain(true);
  at_start_ = true;
  return out;
}

std::string StreamDecoder::Drain(bool final) {
  const size_t hold = final ? 0 : unicode::IncompleteTailLength(pending_);
  const std::string_view ready = std::string_view(pending_).substr(0, pending_.size() - hold);
  std::string out = unicode::ToValidUtf8(ready);
  pending_.erase(0, ready.size());
  return out;
}

}  // namespace moe
