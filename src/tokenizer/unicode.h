// UTF-8 validation/encoding helpers and the GPT-2 byte <-> code point table that byte-level
// BPE vocabularies are written in. Everything here works on untrusted bytes and never fails:
// invalid sequences are reported as length 0, never read past the end.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace moe::unicode {

// Length (1..4) of the well-formed UTF-8 sequence starting at s[i], or 0 when the bytes there
// are not one (stray continuation byte, overlong form, surrogate, > U+10FFFF, truncated).
size_t ValidSequenceLength(std::string_view s, size_t i);

// Decodes the well-formed sequence at s[i] (caller checked ValidSequenceLength(s, i) == n).
uint32_t DecodeValid(std::string_view s, size_t i, size_t n);

bool IsValidUtf8(std::string_view s);

void AppendUtf8(uint32_t cp, std::string* out);

// Number of bytes at the end of `s` that form the start of a well-formed sequence that is not
// complete yet (0..3): what a streaming decoder must hold back.
size_t IncompleteTailLength(std::string_view s);

// Replaces every ill-formed byte with U+FFFD; well-formed input is returned unchanged.
std::string ToValidUtf8(std::string_view s);

// GPT-2's bytes_to_unicode(): printable Latin-1 bytes map to themselves, the other 68 bytes
// to U+0100.. in byte order, so every byte becomes one visible code point.
const std::array<std::string, 256>& ByteToUtf8();
// The inverse: the byte a code point stands for, or -1 if it is not one of the 256.
int CodePointToByte(uint32_t cp);

}  // namespace moe::unicode
