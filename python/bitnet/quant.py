"""bitnet.quant: BitNet b1.58 quantization through libbitnet's C API.

The same code the converters and the forward pass run (runtime/bitnet_quant.h):

    weights      gamma = max(mean|W|, 1e-5) per tensor (or per group of G values
                 of a row); codes = round(clip(W / gamma, -1, 1)), half to even.
    activations  scale = 127 / max(max|x|, 1e-5) per token (or per tensor);
                 q = clamp(round(x * scale), -128, 127); x ~ q / scale.
                 Asymmetric: scale = 255 / (hi - lo), zero point -128 - round(lo * scale).

Arrays: inputs of any real dtype and any memory layout are converted to
C-contiguous float32 (a copy only when needed); complex, object or bool
arrays, and wrong shapes, raise ValueError. Errors from the library keep its
message.
"""
from __future__ import annotations

import ctypes
from ctypes import POINTER, byref, c_float, c_int, c_int8, c_int32, c_int64, c_size_t, c_uint64
from dataclasses import dataclass
from typing import NamedTuple, Optional, Union

import numpy as np

from . import _lib
from ._lib import lib

__all__ = ["QuantConfig", "TernaryWeight", "QuantizedActivation", "ErrorStats", "PackedWeight",
           "quantize_weights_ternary", "dequantize_weights", "quantize_activations_int8",
           "dequantize_activations", "quantization_error", "pack", "unpack", "packed_bytes",
           "bitlinear", "estimate_model_size", "bits_per_weight", "TYPES"]

TYPES = ("F32", "F16", "BF16", "Q8_0", "Q6_K", "TQ1_0", "TQ2_0", "I2_S", "IQ1_BN", "IQ2_BN")

_f32p, _i8p, _i32p = POINTER(c_float), POINTER(c_int8), POINTER(c_int32)


def _err():
    return _lib.Error()


def _qtype(t: Union[str, int]) -> int:
    if isinstance(t, (int, np.integer)) and not isinstance(t, bool):
        if 0 <= int(t) < len(TYPES):
            return int(t)
        raise ValueError(f"unknown type id {t}: choose one of {', '.join(TYPES)}")
    if not isinstance(t, str):
        raise ValueError(f"type must be a name such as 'I2_S', not {type(t).__name__}")
    out, e = c_int(), _err()
    _lib.check(lib.bn_qtype_from_name(t.encode(), byref(out), byref(e)), e)
    return out.value


def _as_f32(a, name: str, ndim=(1, 2)) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"{name}: dtype {arr.dtype} is not a real number type "
                         "(float32 expected; other float and int dtypes are converted)")
    if arr.ndim not in ndim:
        raise ValueError(f"{name}: expected {' or '.join(map(str, ndim))} dimensions, "
                         f"got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name}: empty array of shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def _ptr(a: np.ndarray, t):
    return a.ctypes.data_as(t)


def _out(out: Optional[np.ndarray], shape, dtype, name="out") -> np.ndarray:
    if out is None:
        return np.empty(shape, dtype=dtype)
    if not isinstance(out, np.ndarray) or out.dtype != dtype or out.shape != tuple(shape) \
            or not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"{name}: needs a writeable C-contiguous {np.dtype(dtype).name} array "
                         f"of shape {tuple(shape)}")
    return out


@dataclass
class QuantConfig:
    """How to quantize.

    group_size: values per weight scale along a row, used when per_group.
    per_group:  a weight scale per group of group_size (else one per tensor,
                BitNet's rule).
    act_clip:   clip activations to [-act_clip, act_clip] first (None: no clip).
    symmetric:  int8 activations without a zero point (BitNet's rule).
    per_token:  an activation scale per token (row), else one per tensor.
    """
    group_size: int = 256
    per_group: bool = False
    act_clip: Optional[float] = None
    symmetric: bool = True
    per_token: bool = True

    @property
    def weight_group(self) -> int:
        return int(self.group_size) if self.per_group else 0


class TernaryWeight:
    """Ternary codes (int8 in {-1, 0, +1}, shape (rows, K)) with their scales:
    shape (1,) per tensor, or (rows, K // group_size) per group."""

    __slots__ = ("codes", "scales", "group_size")

    def __init__(self, codes: np.ndarray, scales: np.ndarray, group_size: int = 0):
        codes = np.asarray(codes)
        if codes.ndim != 2 or codes.dtype.kind not in "iu":
            raise ValueError(f"codes: expected a 2-D integer array, got {codes.dtype} "
                             f"of shape {codes.shape}")
        self.codes = np.ascontiguousarray(codes, dtype=np.int8)
        rows, K = self.codes.shape
        group_size = int(group_size)
        if group_size:
            if K % group_size:
                raise ValueError(f"group size {group_size} does not divide K = {K}")
            shape = (rows, K // group_size)
        else:
            shape = (1,)
        self.scales = np.ascontiguousarray(np.asarray(scales, dtype=np.float32).reshape(shape))
        self.group_size = group_size

    @property
    def shape(self):
        return self.codes.shape

    @property
    def dtype(self):
        return self.codes.dtype

    def dequantize(self, out=None) -> np.ndarray:
        return dequantize_weights(self, out=out)

    def pack(self, type: str = "I2_S") -> "PackedWeight":
        return pack(self, type)

    def __repr__(self):
        rows, K = self.shape
        zeros = float(np.count_nonzero(self.codes == 0)) / self.codes.size
        g = f"group_size={self.group_size}" if self.group_size else "per_tensor"
        return (f"TernaryWeight(shape=({rows}, {K}), {g}, scales={self.scales.size} "
                f"[{self.scales.min():.6g}, {self.scales.max():.6g}], zeros={zeros:.1%})")


class QuantizedActivation:
    """INT8 activations (shape (n_tokens, K)) with a scale (127 / amax, or
    255 / range) per token, shape (n_tokens,), or per tensor, shape (1,), and
    zero points (int32, same shape) when asymmetric, else None."""

    __slots__ = ("q", "scales", "zero_points", "per_tensor")

    def __init__(self, q, scales, zero_points=None, per_tensor=False):
        self.q = np.ascontiguousarray(q, dtype=np.int8)
        if self.q.ndim != 2:
            raise ValueError(f"q: expected 2 dimensions, got shape {self.q.shape}")
        n = 1 if per_tensor else self.q.shape[0]
        self.scales = np.ascontiguousarray(np.asarray(scales, dtype=np.float32).reshape(n))
        self.zero_points = None if zero_points is None else \
            np.ascontiguousarray(np.asarray(zero_points, dtype=np.int32).reshape(n))
        self.per_tensor = bool(per_tensor)

    @property
    def shape(self):
        return self.q.shape

    @property
    def dtype(self):
        return self.q.dtype

    @property
    def symmetric(self):
        return self.zero_points is None

    def dequantize(self, out=None) -> np.ndarray:
        return dequantize_activations(self, out=out)

    def __repr__(self):
        n, K = self.shape
        return (f"QuantizedActivation(shape=({n}, {K}), "
                f"{'per_tensor' if self.per_tensor else 'per_token'}, "
                f"{'symmetric' if self.symmetric else 'asymmetric'}, "
                f"scales=[{self.scales.min():.6g}, {self.scales.max():.6g}])")


class ErrorStats(NamedTuple):
    mse: float
    max_abs: float
    snr_db: float


@dataclass(frozen=True)
class PackedWeight:
    """A ternary matrix in a GGUF byte layout: data (uint8), type, shape (rows, K)."""
    data: np.ndarray
    type: str
    shape: tuple

    def __repr__(self):
        return f"PackedWeight(type={self.type}, shape={self.shape}, bytes={self.data.size})"

    def unpack(self) -> TernaryWeight:
        return unpack(self.data, self.type, self.shape)


def quantize_weights_ternary(w, config: Optional[QuantConfig] = None, *,
                             group_size: Optional[int] = None) -> TernaryWeight:
    """Absmean ternary quantization of w (rows, K); a 1-D w is one row.
    group_size (overrides config): 0 per tensor, G per group of G along a row."""
    w = _as_f32(w, "w")
    if w.ndim == 1:
        w = w.reshape(1, -1)
    rows, K = w.shape
    G = group_size if group_size is not None else (config or QuantConfig()).weight_group
    G = int(G)
    ns, e = c_size_t(), _err()
    _lib.check(lib.bn_quant_weights_scale_count(rows, K, G, byref(ns), byref(e)), e)
    codes = np.empty((rows, K), dtype=np.int8)
    scales = np.empty(ns.value, dtype=np.float32)
    _lib.check(lib.bn_quant_weights_ternary(_ptr(w, _f32p), rows, K, G, _ptr(codes, _i8p),
                                            _ptr(scales, _f32p), byref(e)), e)
    return TernaryWeight(codes, scales, G)


def dequantize_weights(tw: TernaryWeight, out=None) -> np.ndarray:
    """codes * gamma as float32 (rows, K); out: an optional preallocated array."""
    if not isinstance(tw, TernaryWeight):
        raise ValueError("dequantize_weights: expected a TernaryWeight")
    rows, K = tw.shape
    out = _out(out, (rows, K), np.float32)
    e = _err()
    _lib.check(lib.bn_quant_weights_dequant(_ptr(tw.codes, _i8p), _ptr(tw.scales, _f32p), rows,
                                            K, tw.group_size, _ptr(out, _f32p), byref(e)), e)
    return out


def quantize_activations_int8(x, config: Optional[QuantConfig] = None) -> QuantizedActivation:
    """INT8 quantization of x (n_tokens, K); a 1-D x is one token."""
    cfg = config or QuantConfig()
    x = _as_f32(x, "x")
    if x.ndim == 1:
        x = x.reshape(1, -1)
    n, K = x.shape
    opts = _lib.ActOptions()
    lib.bn_quant_act_options_default(byref(opts))
    opts.per_tensor = not cfg.per_token
    opts.symmetric = bool(cfg.symmetric)
    opts.clip = float(cfg.act_clip) if cfg.act_clip else 0.0
    ns = 1 if opts.per_tensor else n
    q = np.empty((n, K), dtype=np.int8)
    scales = np.empty(ns, dtype=np.float32)
    zp = None if cfg.symmetric else np.empty(ns, dtype=np.int32)
    e = _err()
    _lib.check(lib.bn_quant_act_i8(_ptr(x, _f32p), n, K, byref(opts), _ptr(q, _i8p),
                                   _ptr(scales, _f32p), None if zp is None else _ptr(zp, _i32p),
                                   byref(e)), e)
    return QuantizedActivation(q, scales, zp, opts.per_tensor)


def dequantize_activations(qa: QuantizedActivation, out=None) -> np.ndarray:
    """(q - zero_point) / scale as float32 (n_tokens, K)."""
    if not isinstance(qa, QuantizedActivation):
        raise ValueError("dequantize_activations: expected a QuantizedActivation")
    n, K = qa.shape
    out = _out(out, (n, K), np.float32)
    e = _err()
    zp = None if qa.zero_points is None else _ptr(qa.zero_points, _i32p)
    _lib.check(lib.bn_quant_act_dequant(_ptr(qa.q, _i8p), _ptr(qa.scales, _f32p), zp, n, K,
                                        qa.per_tensor, _ptr(out, _f32p), byref(e)), e)
    return out


def quantization_error(ref, approx) -> ErrorStats:
    """MSE, max abs error and SNR (dB) of approx against ref (same shape)."""
    if isinstance(approx, (TernaryWeight, QuantizedActivation)):
        approx = approx.dequantize()
    r, a = _as_f32(ref, "ref", ndim=(1, 2, 3, 4)), _as_f32(approx, "approx", ndim=(1, 2, 3, 4))
    if r.shape != a.shape:
        raise ValueError(f"quantization_error: shapes {r.shape} and {a.shape} differ")
    st, e = _lib.ErrorStats(), _err()
    _lib.check(lib.bn_quant_error(_ptr(r, _f32p), _ptr(a, _f32p), r.size, byref(st), byref(e)), e)
    return ErrorStats(st.mse, st.max_abs, st.snr_db)


def _as_bytes(data) -> np.ndarray:
    """Packed bytes (bytes, bytearray, memoryview or an array) as a flat
    C-contiguous uint8 array, without a copy when possible."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return np.frombuffer(data, dtype=np.uint8)
    arr = np.ascontiguousarray(np.asarray(data))
    if arr.dtype.kind not in "uiV" and arr.dtype != np.uint8:
        raise ValueError(f"packed data: expected bytes or a uint8 array, got {arr.dtype}")
    return arr.reshape(-1).view(np.uint8)


def packed_bytes(type: str, shape) -> int:
    rows, K = (int(s) for s in shape)
    nb, e = c_uint64(), _err()
    _lib.check(lib.bn_quant_packed_bytes(_qtype(type), rows, K, byref(nb), byref(e)), e)
    return nb.value


def pack(tw: TernaryWeight, type: str = "I2_S") -> PackedWeight:
    """The bytes bitnet-quantize writes for these codes and scales in a GGUF
    layout (I2_S, TQ2_0, TQ1_0; also IQ2_BN, IQ1_BN, F32, F16, BF16)."""
    if not isinstance(tw, TernaryWeight):
        raise ValueError("pack: expected a TernaryWeight")
    t = _qtype(type)
    rows, K = tw.shape
    nb = packed_bytes(t, (rows, K))
    out = np.empty(nb, dtype=np.uint8)
    e = _err()
    _lib.check(lib.bn_quant_pack(t, _ptr(tw.codes, _i8p), _ptr(tw.scales, _f32p), rows, K,
                                 tw.group_size, out.ctypes.data, nb, byref(e)), e)
    return PackedWeight(out, TYPES[t], (rows, K))


def unpack(data, type: str, shape) -> TernaryWeight:
    """Codes and scales from a packed tensor (bytes or a uint8 array)."""
    t = _qtype(type)
    rows, K = (int(s) for s in shape)
    buf = _as_bytes(data)
    codes = np.empty((rows, K), dtype=np.int8)
    cap = rows * max(1, K // 256)
    scales = np.empty(cap, dtype=np.float32)
    ns, g, e = c_size_t(), c_int64(), _err()
    _lib.check(lib.bn_quant_unpack(t, buf.ctypes.data, buf.size, rows, K, _ptr(codes, _i8p),
                                   _ptr(scales, _f32p), cap, byref(ns), byref(g), byref(e)), e)
    return TernaryWeight(codes, scales[:ns.value].copy(), g.value)


def bitlinear(x, w: Union[TernaryWeight, PackedWeight], *, n_threads: int = 1,
              kernels: Optional[str] = None) -> np.ndarray:
    """y = x W^T as the model computes a BitLinear layer: x (n_tokens, K)
    quantized per token to int8, exact integer sums with the ternary codes,
    then scaled. w: a TernaryWeight (group size 0, K or 256) or a PackedWeight."""
    x = _as_f32(x, "x")
    one = x.ndim == 1
    if one:
        x = x.reshape(1, -1)
    n, K = x.shape
    if not isinstance(w, (TernaryWeight, PackedWeight)):
        raise ValueError("bitlinear: w must be a TernaryWeight or a PackedWeight")
    rows, wK = w.shape
    if wK != K:
        raise ValueError(f"bitlinear: x has K = {K} values per token, w has {wK}")
    bl, e = ctypes.c_void_p(), _err()
    kn = kernels.encode() if kernels else None
    if isinstance(w, TernaryWeight):
        st = lib.bn_bitlinear_new_codes(_ptr(w.codes, _i8p), _ptr(w.scales, _f32p), rows, K,
                                        w.group_size, kn, byref(bl), byref(e))
    else:
        buf = _as_bytes(w.data)
        st = lib.bn_bitlinear_new(_qtype(w.type), buf.ctypes.data, buf.size, rows, K, kn,
                                  byref(bl), byref(e))
    _lib.check(st, e)
    try:
        y = np.empty((n, rows), dtype=np.float32)
        _lib.check(lib.bn_bitlinear_forward(bl, _ptr(x, _f32p), n, _ptr(y, _f32p),
                                            int(n_threads), byref(e)), e)
    finally:
        lib.bn_bitlinear_free(bl)
    return y[0] if one else y


def estimate_model_size(n_params: int, type: str = "I2_S") -> int:
    """Bytes n_params weights take in a type (whole blocks)."""
    n = int(n_params)
    if n < 0 or n >= 1 << 64:
        raise ValueError(f"estimate_model_size: {n_params} parameters is out of range")
    out, e = c_uint64(), _err()
    _lib.check(lib.bn_quant_estimate_bytes(n, _qtype(type), byref(out), byref(e)), e)
    return out.value


def bits_per_weight(type: str) -> float:
    return lib.bn_qtype_bits_per_weight(_qtype(type))
