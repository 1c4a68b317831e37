// Tokenizer::FromGguf: reads and validates the `tokenizer.ggml.*` metadata (llama.cpp's
// llama_vocab::impl::load), with defaults where llama.cpp has them.
#include <limits>
#include <utility>

#include "io/gguf.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_impl.h"

namespace moe {
namespace {

// Typed views of optional metadata keys that explain what is wrong with them.
class Meta {
 public:
  explicit Meta(const GgufFile& g) : g_(g) {}

  const std::string& name() const { return g_.path(); }

  Result<const GgufArray*> Array(const std::string& key, GgufType elem, bool required) const {
    const GgufValue* v = g_.Find(key);
    if (!v) {
      if (required) return Status::Errorf("{}: missing metadata key '{}'", name(), key);
      return static_cast<const GgufArray*>(nullptr);
    }
    const GgufArray* a = v->AsArray();
    if (!a) {
      return Status::Errorf("{}: metadata key '{}' has type {}, expected an array of {}", name(),
                            key, GgufTypeName(v->type), GgufTypeName(elem));
    }
    const bool ok = elem == GgufType::kString ? a->elem_type == GgufType::kString
                    : elem == GgufType::kF32
                        ? a->elem_type == GgufType::kF32 || a->elem_type == GgufType::kF64
                        : a->elem_type != GgufType::kString && a->elem_type != GgufType::kArray &&
                              a->elem_type != GgufType::kF32 && a->elem_type != GgufType::kF64 &&
                              a->elem_type != GgufType::kBool;
    if (!ok) {
      return Status::Errorf("{}: metadata key '{}' is an array of {}, expected an array of {}",
                            name(), key, GgufTypeName(a->elem_type), GgufTypeName(elem));
    }
    return a;
  }

  // Optional token id: -1 (keep `fallback`) when absent; an error when not an integer or
  // outside [0, n_vocab).
  Status TokenId(const std::string& key, size_t n_vocab, int32_t* id) const {
    const GgufValue* v = g_.Find(key);
    if (!v) return Status();
    const auto x = v->AsInt();
    if (!v->IsInteger() || !x) {
      return Status::Errorf("{}: metadata key '{}' has type {}, expected an integer token id",
                            name(), key, GgufTypeName(v->type));
    }
    if (*x < 0 || static_cast<uint64_t>(*x) >= n_vocab) {
      return Status::Errorf(
          "{}: metadata key '{}' = {} is not a token id: the vocabulary has {} "
          "tokens (0..{})",
          name(), key, *x, n_vocab, n_vocab - 1);
    }
    *id = static_cast<int32_t>(*x);
    return Status();
  }

  Status Bool(const std::string& key, bool* out) const {
    const GgufValue* v = g_.Find(key);
    if (!v) return Status();
    const auto b = v->AsBool();
    if (!b) {
      return Status::Errorf("{}: metadata key '{}' has type {}, expected a bool", name(), key,
                            GgufTypeName(v->type));
    }
    *out = *b;
    return Status();
  }

  Result<std::string> OptString(const std::string& key) const {
    const GgufValue* v = g_.Find(key);
    if (!v) return std::string();
    const std::string* s = v->AsString();
    if (!s) {
      return Status::Errorf("{}: metadata key '{}' has type {}, expected a string", name(), key,
                            GgufTypeName(v->type));
    }
    return *s;
  }

 private:
  const GgufFile& g_;
};

std::string Lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> Tokenizer::FromGguf(const GgufFile& gguf) {
  const Meta meta(gguf);
  auto impl = std::make_unique<Impl>();
  impl->source = gguf.path();

  MOE_ASSIGN_OR_RETURN(const std::string model, gguf.GetString("tokenizer.ggml.model"));
  if (model == "llama") {
    impl->spm = true;
  } else if (model != "gpt2") {
    return Status::Errorf(
        "{}: tokenizer.ggml.model is '{}'; supported are 'gpt2' (byte-level "
        "BPE) and 'llama' (SentencePiece BPE)",
        meta.name(), model);
  }
  MOE_ASSIGN_OR_RETURN(impl->pre, meta.OptString("tokenizer.ggml.pre"));

  MOE_ASSIGN_OR_RETURN(const GgufArray* tokens,
                       meta.Array("tokenizer.ggml.tokens", GgufType::kString, true));
  const size_t n = tokens->items.size();
  if (n == 0) return Status::Errorf("{}: tokenizer.ggml.tokens is empty", meta.name());
  if (n > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    return Status::Errorf("{}: tokenizer.ggml.tokens has {} entries, more than int32 ids allow",
                          meta.name(), n);
  }
  impl->pieces.resize(n);
  for (size_t i = 0; i < n; ++i) impl->pieces[i] = *tokens->items[i].AsString();

  MOE_ASSIGN_OR_RETURN(const GgufArray* scores,
                       meta.Array("tokenizer.ggml.scores", GgufType::kF32, false));
  if (scores) {
    if (scores->items.size() != n) {
      return Status::Errorf("{}: tokenizer.ggml.scores has {} entries, tokenizer.ggml.tokens {}",
                            meta.name(), scores->items.size(), n);
    }
    impl->scores.resize(n);
    for (size_t i = 0; i < n; ++i) {
      impl->scores[i] = static_cast<float>(scores->items[i].AsDouble().value_or(0.0));
    }
  }

  MOE_ASSIGN_OR_RETURN(const GgufArray* types,
                       meta.Array("tokenizer.ggml.token_type", GgufType::kI32, false));
  if (types) {
    if (types->items.size() != n) {
      return Status::Errorf(
          "{}: tokenizer.ggml.token_type has {} entries, tokenizer.ggml.tokens "
          "{}",
          meta.name(), types->items.size(), n);
    }
    impl->types.resize(n);
    for (size_t i = 0; i < n; ++i) {
      const int64_t t = types->items[i].AsInt().value_or(0);
      // Values outside the enum are "undefined", as in llama.cpp.
      impl->types[i] = t >= 1 && t <= 6 ? static_cast<TokenType>(t) : TokenType::kUndefined;
    }
  }

  // Defaults llama.cpp applies before reading the metadata.
  if (impl->spm) {
    impl->bos = n > 1 ? 1 : -1;
    impl->eos = n > 2 ? 2 : -1;
    impl->unk = 0;
    impl->add_bos = true;
    impl->add_space_prefix = true;
  }
  const struct {
    const char* key;
    int32_t* id;
  } ids[] = {{"tokenizer.ggml.bos_token_id", &impl->bos},
             {"tokenizer.ggml.eos_token_id", &impl->eos},
             {"tokenizer.ggml.eot_token_id", &impl->eot},
             {"tokenizer.ggml.eom_token_id", &impl->eom},
             {"tokenizer.ggml.unknown_token_id", &impl->unk}};
  for (const auto& k : ids) MOE_RETURN_IF_ERROR(meta.TokenId(k.key, n, k.id));
  // Padding never reaches the model during inference; some converters write vocab_size here.
  if (Status s = meta.TokenId("tokenizer.ggml.padding_token_id", n, &impl->pad); !s.ok()) {
    impl->warnings.push_back(s.message() + "; ignored");
  }

  PreTokenizerPreset preset;
  if (!impl->spm) {
    preset = PreTokenizerForName(impl->pre);
    if (!preset.known) {
      impl->warnings.push_back("unknown tokenizer.ggml.pre '" + impl->pre +
                               "', using the default pre-tokenizer; tokens may differ from the "
                               "model's own tokenizer");
    }
    impl->ignore_merges = preset.ignore_merges;
    impl->add_bos = preset.add_bos;
  }
  MOE_RETURN_IF_ERROR(meta.Bool("tokenizer.ggml.add_bos_token", &impl->add_bos));
  MOE_RETURN_IF_ERROR(meta.Bool("tokenizer.ggml.add_eos_token", &impl->add_eos));
  MOE_RETURN_IF_ERROR(meta.Bool("tokenizer.ggml.add_space_prefix", &impl->add_space_prefix));
  if (impl->add_bos && impl->bos < 0) {
    return Status::Errorf(
        "{}: tokenizer.ggml.add_bos_token is true but there is no "
        "tokenizer.ggml.bos_token_id",
        meta.name());
  }
  if (impl->add_eos && impl->eos < 0) {
    return Status::Errorf(
        "{}: tokenizer.ggml.add_eos_token is true but there is no "
        "tokenizer.ggml.eos_token_id",
        meta.name());
  }

  MOE_RETURN_IF_ERROR(impl->Finish());

  if (!impl->spm) {
    MOE_ASSIGN_OR_RETURN(auto splitter, RegexSplitter::Compile(preset.patterns));
    impl->splitter = std::move(splitter);
    MOE_ASSIGN_OR_RETURN(const GgufArray* merges,
                         meta.Array("tokenizer.ggml.merges", GgufType::kString, true));
    for (size_t i = 0; i < merges->items.size(); ++i) {
      const std::string& m = *merges->items[i].AsString();
      // "left right", split at the first space after the first byte (a piece may be " ").
      const size_t sp = m.size() > 1 ? m.find(' ', 1) : std::string::npos;
      if (sp == std::string::npos) {
        return Status::Errorf(
            "{}: tokenizer.ggml.merges[{}] = '{}' is not two pieces separated "
            "by a space",
            meta.name(), i, m);
      }
      MOE_RETURN_IF_ERROR(impl->AddMerge(i, std::string_view(m).substr(0, sp),
                                         std::string_view(m).substr(sp + 1),
                                         "tokenizer.ggml.merges[" + std::to_string(i) + "]"));
    }
  }

  // Phi-3's converter loses the rstrip flag of its chat tokens; llama.cpp restores it by name.
  MOE_ASSIGN_OR_RETURN(const std::string general_name, meta.OptString("general.name"));
  const std::string lname = Lower(general_name);
  if (lname.find("phi-3") != std::string::npos || lname.find("phi3") != std::string::npos) {
    for (int32_t id : impl->specials) impl->strip[id] |= Impl::kRstrip;
    if (int32_t id = impl->Find("</s>"); id >= 0) impl->strip[id] |= Impl::kRstrip;
    for (const char* t : {"<unk>", "<s>", "<|endoftext|>"}) {
      if (int32_t id = impl->Find(t); id >= 0) impl->strip[id] &= ~Impl::kRstrip;
    }
  }
  return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(impl)));
}

}  // namespace moe
