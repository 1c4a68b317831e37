#include "model/weights.h"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <set>

#include "base/progress.h"
#include "base/thread_pool.h"
#include "kernels/cpu/weight_tiles.h"

namespace moe {

Result<const TensorEntry*> Binder::Lookup(const std::string& name, const std::vector<uint64_t>& shape,
                                          const std::string& why) {
  const TensorEntry* e = catalog_.Find(name);
  if (!e) return Status::Errorf("{}: missing tensor '{}' (expected shape {} from {})", file_, name,
                                ShapeString(shape), why);
  if (!e->dtype)
    return Status::Errorf("{}: tensor '{}' has type {}, not supported yet (supported: F32, F16, BF16, Q8_0, F8_E4M3)",
                          file_, name, e->type_name.empty() ? GgmlTypeName(e->ggml_type) : e->type_name);
  if (e->shape != shape)
    return Status::Errorf("{}: tensor '{}' (offset {:#x}) has shape {}, expected {} from {}", file_, name,
                          e->file_offset, ShapeString(e->shape), ShapeString(shape), why);
  used_.push_back(name);
  return e;
}

Result<const float*> Binder::Fp8Scales(const std::string& name, std::vector<uint64_t> lead, uint64_t rows,
                                       uint64_t cols) {
  const std::string sname = name + "_scale_inv";
  lead.push_back((rows + kF8Block - 1) / kF8Block);
  lead.push_back((cols + kF8Block - 1) / kF8Block);
  const TensorEntry* s = catalog_.Find(sname);
  if (!s)
    return Status::Errorf("{}: FP8 tensor '{}' has no block scales: missing tensor '{}' (expected F32, BF16 or F16 {} "
                          "for 128x128 blocks)", file_, name, sname, ShapeString(lead));
  if (s->dtype != DType::kF32 && s->dtype != DType::kBF16 && s->dtype != DType::kF16)
    return Status::Errorf("{}: scale tensor '{}' has type {}, expected F32, BF16 or F16 (block scales of '{}')",
                          file_, sname, s->type_name.empty() ? GgmlTypeName(s->ggml_type) : s->type_name, name);
  if (s->shape != lead)
    return Status::Errorf("{}: scale tensor '{}' (offset {:#x}) has shape {}, expected {} = ceil({} / 128) for "
                          "128x128 blocks of '{}'", file_, sname, s->file_offset, ShapeString(s->shape),
                          ShapeString(lead), ShapeString({rows, cols}), name);
  if (s->dtype != DType::kF32) {
    // The shape check bounds the count: a grid is 1/16384 of its weight's elements.
    const size_t n = s->NumElements();
    auto& wide = widened_.emplace_back(std::make_unique<float[]>(n));
    DequantizeRow(*s->dtype, s->data, n, wide.get());
    used_.push_back(sname);
    return wide.get();
  }
  if (reinterpret_cast<uintptr_t>(s->data) % alignof(float) != 0)
    return Status::Errorf("{}: scale tensor '{}' starts at offset {:#x}, not a multiple of 4", file_, sname,
                          s->file_offset);
  used_.push_back(sname);
  return reinterpret_cast<const float*>(s->data);
}

Result<WeightMatrix> Binder::Matrix(const std::string& name, int64_t rows, int64_t cols,
                                    const std::string& why) {
  MOE_ASSIGN_OR_RETURN(const TensorEntry* e,
                       Lookup(name, {static_cast<uint64_t>(rows), static_cast<uint64_t>(cols)}, why));
  size_t rb = RowBytes(*e->dtype, static_cast<size_t>(cols));
  WeightMatrix m{*e->dtype, e->data, static_cast<size_t>(rows), static_cast<size_t>(cols), rb};
  if (m.dtype == DType::kF8E4M3) {
    MOE_ASSIGN_OR_RETURN(m.scales, Fp8Scales(name, {}, m.rows, m.cols));
    m.scale_stride = (m.cols + kF8Block - 1) / kF8Block;
  }
  return m;
}

Result<ExpertStack> Binder::Experts(const std::string& name, int64_t n_expert, int64_t rows, int64_t cols,
                                    const std::string& why) {
  const std::string stem = name.substr(0, name.rfind(".weight"));
  if (!catalog_.Contains(name) && catalog_.Contains(stem + ".0.weight")) {
    ExpertStack s;
    s.n_expert = static_cast<size_t>(n_expert);
    for (int64_t e = 0; e < n_expert; ++e) {
      const std::string en = fmt::format("{}.{}.weight", stem, e);
      MOE_ASSIGN_OR_RETURN(WeightMatrix m, Matrix(en, rows, cols, why));
      if (e == 0) s.first = m;
      if (m.dtype != s.first.dtype)
        return Status::Errorf("{}: expert tensor '{}' has type {}, expert 0 has {}", file_, en, DTypeName(m.dtype),
                              DTypeName(s.first.dtype));
      s.data.push_back(m.data);
      if (m.scales) s.scales.push_back(m.scales);
    }
    return s;
  }
  MOE_ASSIGN_OR_RETURN(const TensorEntry* e,
                       Lookup(name, {static_cast<uint64_t>(n_expert), static_cast<uint64_t>(rows),
                                     static_cast<uint64_t>(cols)}, why));
  size_t rb = RowBytes(*e->dtype, static_cast<size_t>(cols));
  ExpertStack s;
  s.first = WeightMatrix{*e->dtype, e->data, static_cast<size_t>(rows), static_cast<size_t>(cols), rb};
  s.n_expert = static_cast<size_t>(n_expert);
  s.expert_stride = rb * static_cast<size_t>(rows);
  if (s.first.dtype == DType::kF8E4M3) {
    MOE_ASSIGN_OR_RETURN(s.first.scales, Fp8Scales(name, {static_cast<uint64_t>(n_expert)}, s.first.rows,
                                                   s.first.cols));
    s.first.scale_stride = (s.first.cols + kF8Block - 1) / kF8Block;
    s.scale_expert_stride = (s.first.rows + kF8Block - 1) / kF8Block * s.first.scale_stride;
  }
  return s;
}

Result<std::vector<float>> Binder::Vector(const std::string& name, int64_t n, const std::string& why) {
  MOE_ASSIGN_OR_RETURN(const TensorEntry* e, Lookup(name, {static_cast<uint64_t>(n)}, why));
  if (*e->dtype == DType::kF8E4M3)
    return Status::Errorf("{}: tensor '{}' is F8_E4M3, expected a float type (F32, F16, BF16) for a vector",
                          file_, name);
  std::vector<float> v(static_cast<size_t>(n));
  DequantizeRow(*e->dtype, e->data, v.size(), v.data());
  return v;
}

std::vector<std::string> Binder::Unused() const {
  std::set<std::string> used(used_.begin(), used_.end());
  std::vector<std::string> out;
  for (auto& e : catalog_.entries())
    if (!used.count(e.name)) out.push_back(e.name);
  return out;
}

namespace {
#ifdef MADV_POPULATE_WRITE
constexpr int kMadvPopulateWrite = MADV_POPULATE_WRITE;
#else
constexpr int kMadvPopulateWrite = 23;  // Linux's value; older kernels reject it harmlessly
#endif
}  // namespace

RepackPlan PlanRepack(ModelWeights* w, const std::vector<DType>& types) {
  RepackPlan plan;
  auto tiles = [&](const WeightMatrix& m) {
    return CanTile(m) && UsesQuantizedActs(m.dtype) && std::find(types.begin(), types.end(), m.dtype) != types.end();
  };
  auto add = [&](WeightMatrix& m) {
    if (!tiles(m)) return;
    plan.matrices.push_back(&m);
    plan.bytes += static_cast<uint64_t>(m.rows) * m.row_stride;
  };
  auto add_stack = [&](ExpertStack& st) {
    if (!tiles(st.first)) return;
    plan.stacks.push_back(&st);
    plan.bytes += static_cast<uint64_t>(st.n_expert) * st.first.rows * st.first.row_stride;
  };
  for (LayerWeights& L : w->layers) {
    if (L.gqa)
      for (WeightMatrix* m : {&L.gqa->q, &L.gqa->k, &L.gqa->v, &L.gqa->o}) add(*m);
    if (L.mla) {
      if (L.mla->q_a) add(*L.mla->q_a);
      for (WeightMatrix* m : {&L.mla->q_b, &L.mla->kv_a, &L.mla->o}) add(*m);
      if (L.mla->k_b) {
        add_stack(*L.mla->k_b);
        add_stack(*L.mla->v_b);
      }
    }
    if (L.ffn)
      for (WeightMatrix* m : {&L.ffn->gate, &L.ffn->up, &L.ffn->down}) add(*m);
    if (L.moe) {
      if (L.moe->shared)
        for (WeightMatrix* m : {&L.moe->shared->gate, &L.moe->shared->up, &L.moe->shared->down}) add(*m);
      for (ExpertStack* st : {&L.moe->gate, &L.moe->up, &L.moe->down}) add_stack(*st);
    }
  }
  if (w->output.data != w->token_embd.data) add(w->output);
  return plan;
}

uint64_t RepackWeights(const RepackPlan& plan, bool progress) {
  // One item per matrix (an expert's is a few hundred KB to tens of MB), over the global pool.
  std::vector<WeightMatrix> items;
  for (const WeightMatrix* m : plan.matrices) items.push_back(*m);
  for (const ExpertStack* st : plan.stacks)
    for (size_t e = 0; e < st->n_expert; ++e) items.push_back(st->Expert(e));
  const uint64_t total = plan.bytes;
  if (total == 0) return 0;
  Progress bar("repacking weights", total, progress);
  std::atomic<uint64_t> done{0};
  GlobalPool().ForEachItem(items.size(), [&](size_t i, int thread) {
    const WeightMatrix& m = items[i];
    const size_t n = m.rows * m.row_stride;
    // A mapped file's pages turn private on first write, one fault per 4 KiB page; populated
    // in one call they cost a fraction of that (Linux 5.14+; elsewhere the faults happen anyway).
    const uintptr_t page = 4096, begin = reinterpret_cast<uintptr_t>(m.data) / page * page;
    ::madvise(reinterpret_cast<void*>(begin), reinterpret_cast<uintptr_t>(m.data) + n - begin, kMadvPopulateWrite);
    TileInPlace(m);
    const uint64_t now = done += n;
    if (thread == 0) bar.Update(now);
  });
  for (WeightMatrix* m : plan.matrices) m->layout = TiledLayout(m->dtype);
  for (ExpertStack* st : plan.stacks) st->first.layout = TiledLayout(st->first.dtype);
  bar.Finish();
  return total;
}

}  // namespace moe
