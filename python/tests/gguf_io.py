"""A minimal GGUF v3 reader and writer for the tests: tensor bytes by name,
and small F32 files for bitnet-quantize. Not part of the package."""
import struct

import numpy as np

from bitnet import quant

GGML_IDS = {0: "F32", 1: "F16", 30: "BF16", 8: "Q8_0", 14: "Q6_K", 34: "TQ1_0", 35: "TQ2_0",
            36: "I2_S", 134: "IQ1_BN", 135: "IQ2_BN"}
_SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q",
           11: "<q", 12: "<d"}


class _Cursor:
    def __init__(self, b):
        self.b, self.o = b, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.b, self.o)[0]
        self.o += struct.calcsize(fmt)
        return v

    def string(self):
        n = self.take("<Q")
        s = self.b[self.o:self.o + n].decode("utf-8", "replace")
        self.o += n
        return s

    def value(self, t):
        if t == 8:
            return self.string()
        if t == 9:
            et, n = self.take("<I"), self.take("<Q")
            return [self.value(et) for _ in range(n)]
        return self.take(_SCALAR[t])


def read_tensors(path):
    """{name: (type name, (rows, K), bytes)} of a GGUF file."""
    b = open(path, "rb").read()
    c = _Cursor(b)
    assert c.take("<4s") == b"GGUF"
    c.take("<I")
    n_t, n_kv = c.take("<Q"), c.take("<Q")
    kv = {}
    for _ in range(n_kv):
        k = c.string()
        kv[k] = c.value(c.take("<I"))
    infos = []
    for _ in range(n_t):
        name = c.string()
        nd = c.take("<I")
        ne = [c.take("<Q") for _ in range(nd)]
        t, off = c.take("<I"), c.take("<Q")
        infos.append((name, ne, t, off))
    align = kv.get("general.alignment", 32)
    start = (c.o + align - 1) // align * align
    out = {}
    for name, ne, t, off in infos:
        tname = GGML_IDS[t]
        K, rows = ne[0], int(np.prod(ne[1:])) if len(ne) > 1 else 1
        if tname == "F32":
            nb = 4 * K * rows
        elif tname in ("F16", "BF16"):
            nb = 2 * K * rows
        else:
            nb = quant.packed_bytes(tname, (rows, K)) if tname in quant.TYPES[5:] else None
        out[name] = (tname, (rows, K), b[start + off:start + off + nb] if nb else None)
    return out


def write_f32(path, tensors, arch="bitnet-b1.58"):
    """A GGUF v3 file with general.architecture and F32 tensors {name: (rows, K) array}."""
    def s(x):
        x = x.encode()
        return struct.pack("<Q", len(x)) + x
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), 1)
    head += s("general.architecture") + struct.pack("<I", 8) + s(arch)
    data, off = b"", 0
    for name, w in tensors.items():
        w = np.ascontiguousarray(w, dtype=np.float32)
        head += s(name) + struct.pack("<I", 2) + struct.pack("<QQ", w.shape[1], w.shape[0])
        head += struct.pack("<IQ", 0, off)
        blob = w.tobytes()
        pad = (-len(blob)) % 32
        data += blob + b"\0" * pad
        off += len(blob) + pad
    head += b"\0" * ((-len(head)) % 32)
    with open(path, "wb") as f:
        f.write(head + data)
