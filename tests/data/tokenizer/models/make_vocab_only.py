#!/usr/bin/env python3
"""Writes a vocab-only GGUF (tokenizer.* and general.* metadata, no tensors) from a model GGUF.

Used to make the small *.vocab.gguf files here from the conformance kit's model.gguf files:
  make_vocab_only.py <case>/model.gguf <case>.vocab.gguf
"""
import struct
import sys

SCALAR = {0: 'B', 1: 'b', 2: 'H', 3: 'h', 4: 'I', 5: 'i', 6: 'f', 7: '?', 10: 'Q', 11: 'q', 12: 'd'}


def read(f, fmt):
    return struct.unpack('<' + fmt, f.read(struct.calcsize(fmt)))


def read_raw_value(f, t):
    """Returns the serialized bytes of a value of type t (without the type tag)."""
    if t == 8:
        (n,) = read(f, 'Q')
        return struct.pack('<Q', n) + f.read(n)
    if t == 9:
        (et,) = read(f, 'I')
        (n,) = read(f, 'Q')
        body = b''.join(read_raw_value(f, et) for _ in range(n))
        return struct.pack('<IQ', et, n) + body
    return f.read(struct.calcsize(SCALAR[t]))


def main(src, dst):
    kvs = []
    with open(src, 'rb') as f:
        assert f.read(4) == b'GGUF'
        (version,) = read(f, 'I')
        (_n_tensors,) = read(f, 'Q')
        (n_kv,) = read(f, 'Q')
        for _ in range(n_kv):
            (klen,) = read(f, 'Q')
            key = f.read(klen)
            (t,) = read(f, 'I')
            raw = read_raw_value(f, t)
            if key.startswith(b'tokenizer.') or key.startswith(b'general.'):
                kvs.append(struct.pack('<Q', len(key)) + key + struct.pack('<I', t) + raw)
    with open(dst, 'wb') as f:
        f.write(b'GGUF' + struct.pack('<IQQ', 3, 0, len(kvs)) + b''.join(kvs))


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2])
