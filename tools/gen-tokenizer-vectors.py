#!/usr/bin/env python3
"""gen-tokenizer-vectors.py: extra tokenizer test vectors from independent
reference implementations (offline test-data generation only).

llama.cpp's own vectors (../shared/data/tokenizer/*.inp/.out) are 46 hand-picked
strings. This script adds random strings mixed from many character classes
(letters of several scripts, digits, punctuation, whitespace runs, CR/LF,
contractions, CJK, emoji with modifiers and ZWJ, combining marks, '▁', NBSP)
and tokenizes them with straightforward Python versions of the two algorithms:

  bpe: the Hugging Face Llama-3 tokenizer.json model: the pre-tokenizer regex
       run by the `regex` module (its own Unicode tables), GPT-2 byte
       mapping, ignore_merges, then the lowest-rank (leftmost) merge until
       none applies.
  spm: llama.cpp's SentencePiece algorithm written naively (rescan all
       adjacent pairs each step: highest score, leftmost), with byte
       fallback, on the vocabulary of a GGUF file (read here directly).

Output is llama.cpp's vector format: PREFIX.inp (each string followed by
"\\n__ggml_vocab_test__\\n") and PREFIX.out (one line of " id id ..." per
string), no BOS, no special-token parsing.

Usage:
  tools/gen-tokenizer-vectors.py bpe TOKENIZER_JSON OUT_PREFIX [SEED] [COUNT]
  tools/gen-tokenizer-vectors.py spm VOCAB_GGUF OUT_PREFIX [SEED] [COUNT]
"""
import json
import random
import struct
import sys

SEP = b"\n__ggml_vocab_test__\n"

POOLS = [
    "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789",
    " \t\n\r  \u00a0\u3000\u2009", "'''\".,;:!?()[]{}<>-_=+*/\\|@#$%^&~`",
    "éèêëàâäôöûüçñßøåÆŒ", "中文字符测试日本語のテキスト한국어",
    "😀😁🦙🏳️‍🌈👍🏽", "\u0301\u0308\u0327", "١٢٣٤٥٦٧٨٩٠", "ⅠⅡⅢ½¼²³",
    "\u200b\u200d\ufeff", "Ελληνικά Русский עברית العربية हिन्दी", "sStTmMdDrReEvVlL", "▁",
]


def random_cases(seed, count):
    rnd = random.Random(seed)
    cases = []
    for _ in range(count):
        n = rnd.randint(1, 40)
        cases.append("".join(rnd.choice(rnd.choice(POOLS)) for _ in range(n)).encode("utf-8"))
    return cases


# ---- byte-level BPE (Hugging Face semantics) ----

def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def make_bpe(path):
    import regex  # python3-regex: \p{L}, \p{N} and (?i:...) like the HF tokenizers crate
    tj = json.load(open(path, encoding="utf-8"))
    vocab = tj["model"]["vocab"]
    ranks = {}
    for i, m in enumerate(tj["model"]["merges"]):
        a, b = m.split(" ", 1) if isinstance(m, str) else m
        ranks.setdefault((a, b), i)
    be = bytes_to_unicode()
    pat = regex.compile(r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                        r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

    def word(w):
        if w in vocab:  # ignore_merges
            return [vocab[w]]
        syms = list(w)
        while len(syms) > 1:
            best = None
            for i in range(len(syms) - 1):
                r = ranks.get((syms[i], syms[i + 1]))
                if r is not None and (best is None or r < best[0]):
                    best = (r, i)
            if best is None:
                break
            i = best[1]
            syms[i:i + 2] = [syms[i] + syms[i + 1]]
        out = []
        for s in syms:
            out += [vocab[s]] if s in vocab else [vocab[c] for c in s if c in vocab]
        return out

    def encode(text):
        ids = []
        for w in pat.findall(text.decode("utf-8")):
            ids += word("".join(be[b] for b in w.encode("utf-8")))
        return ids
    return encode


# ---- SentencePiece (llama.cpp semantics) on a GGUF vocabulary ----

def read_gguf_vocab(path):
    data = open(path, "rb").read()
    pos = 0

    def take(fmt):
        nonlocal pos
        v = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return v[0]

    def string():
        nonlocal pos
        n = take("Q")
        s = data[pos:pos + n]
        pos += n
        return s
    sizes = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}

    def value(t):
        if t == 8:
            return string()
        if t == 9:
            et, n = take("I"), take("Q")
            return [value(et) for _ in range(n)]
        return take(sizes[t])
    assert data[:4] == b"GGUF"
    pos = 8
    take("Q")  # tensors
    n_kv = take("Q")
    kv = {}
    for _ in range(n_kv):
        key = string().decode()
        kv[key] = value(take("I"))
    return kv["tokenizer.ggml.tokens"], kv["tokenizer.ggml.scores"]


def make_spm(path):
    tokens, scores = read_gguf_vocab(path)
    pieces = {}
    for i, t in enumerate(tokens):
        pieces[t] = i  # last id wins, as llama.cpp
    lens = [1] * 12 + [2, 2, 3, 4]

    def byte_id(b):
        for k in (("<0x%02X>" % b).encode(), bytes([b])):
            if k in pieces:
                return pieces[k]
        return 0

    def encode(text):
        t = b"\xe2\x96\x81" + text.replace(b" ", b"\xe2\x96\x81")
        syms, off = [], 0
        while off < len(t):
            n = min(lens[t[off] >> 4], len(t) - off)
            syms.append([off, n])
            off += n
        while True:
            best = None
            for j in range(len(syms) - 1):
                s = t[syms[j][0]:syms[j][0] + syms[j][1] + syms[j + 1][1]]
                if s in pieces and (best is None or scores[pieces[s]] > best[0]):
                    best = (scores[pieces[s]], j)
            if best is None:
                break
            j = best[1]
            syms[j][1] += syms[j + 1][1]
            del syms[j + 1]
        out = []
        for o, n in syms:
            s = t[o:o + n]
            out += [pieces[s]] if s in pieces else [byte_id(b) for b in s]
        return out
    return encode


def main():
    if len(sys.argv) < 4 or sys.argv[1] not in ("bpe", "spm"):
        sys.exit(__doc__)
    kind, src, prefix = sys.argv[1:4]
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    count = int(sys.argv[5]) if len(sys.argv) > 5 else 500
    encode = make_bpe(src) if kind == "bpe" else make_spm(src)
    cases = random_cases(seed, count)
    if kind == "spm":  # SentencePiece takes any bytes: add invalid UTF-8
        cases.append(b"a\xffb\xc3 \xe4\xb8 x\xf0\x9f\x98")
    with open(prefix + ".inp", "wb") as f:
        for c in cases:
            f.write(c + SEP)
    with open(prefix + ".out", "w") as f:
        for c in cases:
            f.write("".join(" %d" % i for i in encode(c)) + "\n")


if __name__ == "__main__":
    main()
