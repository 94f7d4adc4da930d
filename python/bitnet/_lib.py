"""Loading libbitnet and declaring its C API for ctypes.

Why ctypes (not cffi): the C API is plain C (opaque handles, arrays and
sizes, one fixed-size error record), which ctypes describes in a few lines;
it ships with Python, so the package needs nothing at run time beyond numpy
and needs no compiler beyond the one that builds libbitnet; and every
foreign call releases the GIL, so Session.eval and bitlinear run while other
Python threads go on. cffi's ABI mode would add a dependency for the same
calls; its API mode would add a C extension to build per Python version.

The library is the one the package ships (bitnet/libbitnet.so, built from
source by pip); BITNET_LIBRARY=/path/to/libbitnet.so overrides it.
"""
from __future__ import annotations

import ctypes
import os
from ctypes import (POINTER, Structure, c_bool, c_char, c_char_p, c_double, c_float, c_int,
                    c_int8, c_int32, c_int64, c_size_t, c_uint64, c_void_p)

_HERE = os.path.dirname(os.path.abspath(__file__))

# bn_status
OK, IO, FORMAT, UNSUPPORTED, INVALID_ARG, NO_MEMORY, NOT_FOUND, CONTEXT_FULL, INTERRUPTED = range(9)
ERROR_MESSAGE_BYTES = 512


class Error(Structure):
    _fields_ = [("status", c_int), ("message", c_char * ERROR_MESSAGE_BYTES)]


class ModelOptions(Structure):
    _fields_ = [("n_threads", c_int), ("kernels", c_char_p), ("use_mmap", c_bool),
                ("lm_head_i8", c_bool), ("prompt_kernels", c_int), ("decode_kernels", c_int)]


class SessionOptions(Structure):
    _fields_ = [("n_ctx", c_int32), ("n_batch", c_int32), ("n_logits", c_int32),
                ("n_threads", c_int), ("type_k", c_int), ("type_v", c_int),
                ("batch_only", c_bool)]


class SamplerParams(Structure):
    _fields_ = [("temp", c_float), ("top_k", c_int32), ("top_p", c_float), ("min_p", c_float),
                ("repeat_penalty", c_float), ("repeat_last_n", c_int32), ("seed", c_uint64)]


class ActOptions(Structure):
    _fields_ = [("per_tensor", c_bool), ("symmetric", c_bool), ("clip", c_float)]


class ErrorStats(Structure):
    _fields_ = [("n", c_uint64), ("mse", c_double), ("max_abs", c_double), ("snr_db", c_double),
                ("sum_sq_ref", c_double), ("sum_sq_err", c_double)]


def _find_library() -> str:
    env = os.environ.get("BITNET_LIBRARY")
    if env:
        return env
    return os.path.join(_HERE, "libbitnet.so")


def _load():
    path = _find_library()
    try:
        lib = ctypes.CDLL(path)
    except OSError as e:
        raise ImportError(f"bitnet: cannot load the C library {path}: {e}. "
                          "Install the package with pip (it builds libbitnet from source), "
                          "or set BITNET_LIBRARY to a libbitnet.so") from None
    P = c_void_p
    f32p, i8p, i32p = POINTER(c_float), POINTER(c_int8), POINTER(c_int32)
    err = POINTER(Error)
    protos = {
        # bitnet.h
        "bn_status_name": (c_char_p, [c_int]),
        "bn_model_options_default": (None, [POINTER(ModelOptions)]),
        "bn_model_load": (c_int, [c_char_p, POINTER(ModelOptions), POINTER(P), err]),
        "bn_model_free": (None, [P]),
        "bn_model_arch": (c_char_p, [P]),
        "bn_model_description": (c_char_p, [P]),
        "bn_model_n_vocab": (c_int32, [P]),
        "bn_model_n_ctx_train": (c_int32, [P]),
        "bn_model_n_embd": (c_int32, [P]),
        "bn_model_n_layer": (c_int32, [P]),
        "bn_model_n_params": (c_uint64, [P]),
        "bn_model_kernels_name": (c_char_p, [P]),
        "bn_model_chat_template": (c_char_p, [P]),
        "bn_model_has_tokenizer": (c_bool, [P]),
        "bn_model_tokenize": (c_int, [P, c_char_p, c_size_t, c_bool, c_bool, i32p, c_size_t,
                                      POINTER(c_size_t), err]),
        "bn_model_token_to_piece": (c_int, [P, c_int32, c_char_p, c_size_t, POINTER(c_size_t),
                                            err]),
        "bn_model_detokenize": (c_int, [P, i32p, c_size_t, c_char_p, c_size_t,
                                        POINTER(c_size_t), err]),
        "bn_model_is_eog": (c_bool, [P, c_int32]),
        "bn_model_bos": (c_int32, [P]),
        "bn_model_add_bos": (c_bool, [P]),
        "bn_model_eos": (c_int32, [P]),
        "bn_model_chat_render": (c_int, [P, POINTER(c_char_p), POINTER(c_char_p), c_size_t,
                                         c_bool, c_char_p, c_size_t, POINTER(c_size_t), err]),
        "bn_session_options_default": (None, [POINTER(SessionOptions)]),
        "bn_session_new": (c_int, [P, POINTER(SessionOptions), POINTER(P), err]),
        "bn_session_free": (None, [P]),
        "bn_session_eval": (c_int, [P, i32p, c_size_t, c_bool, err]),
        "bn_session_logits": (f32p, [P, c_int32]),
        "bn_session_n_past": (c_int32, [P]),
        "bn_session_n_ctx": (c_int32, [P]),
        "bn_session_truncate": (c_int, [P, c_int32, err]),
        "bn_sampler_params_default": (None, [POINTER(SamplerParams)]),
        "bn_sampler_new": (c_int, [POINTER(SamplerParams), c_int32, POINTER(P), err]),
        "bn_sampler_free": (None, [P]),
        "bn_sampler_sample": (c_int, [P, f32p, POINTER(c_int32), err]),
        "bn_sampler_accept": (None, [P, c_int32]),
        # bitnet_quant.h
        "bn_qtype_name": (c_char_p, [c_int]),
        "bn_qtype_from_name": (c_int, [c_char_p, POINTER(c_int), err]),
        "bn_qtype_bits_per_weight": (c_double, [c_int]),
        "bn_quant_weights_scale_count": (c_int, [c_int64, c_int64, c_int64, POINTER(c_size_t),
                                                 err]),
        "bn_quant_weights_ternary": (c_int, [f32p, c_int64, c_int64, c_int64, i8p, f32p, err]),
        "bn_quant_weights_dequant": (c_int, [i8p, f32p, c_int64, c_int64, c_int64, f32p, err]),
        "bn_quant_act_options_default": (None, [POINTER(ActOptions)]),
        "bn_quant_act_i8": (c_int, [f32p, c_int64, c_int64, POINTER(ActOptions), i8p, f32p,
                                    i32p, err]),
        "bn_quant_act_dequant": (c_int, [i8p, f32p, i32p, c_int64, c_int64, c_bool, f32p, err]),
        "bn_quant_error": (c_int, [f32p, f32p, c_int64, POINTER(ErrorStats), err]),
        "bn_quant_packed_bytes": (c_int, [c_int, c_int64, c_int64, POINTER(c_uint64), err]),
        "bn_quant_pack": (c_int, [c_int, i8p, f32p, c_int64, c_int64, c_int64, c_void_p,
                                  c_uint64, err]),
        "bn_quant_unpack": (c_int, [c_int, c_void_p, c_uint64, c_int64, c_int64, i8p, f32p,
                                    c_size_t, POINTER(c_size_t), POINTER(c_int64), err]),
        "bn_bitlinear_new": (c_int, [c_int, c_void_p, c_uint64, c_int64, c_int64, c_char_p,
                                     POINTER(P), err]),
        "bn_bitlinear_new_codes": (c_int, [i8p, f32p, c_int64, c_int64, c_int64, c_char_p,
                                           POINTER(P), err]),
        "bn_bitlinear_free": (None, [P]),
        "bn_bitlinear_kernels_name": (c_char_p, [P]),
        "bn_bitlinear_forward": (c_int, [P, f32p, c_int64, f32p, c_int, err]),
        "bn_quant_estimate_bytes": (c_int, [c_uint64, c_int, POINTER(c_uint64), err]),
    }
    for name, (restype, argtypes) in protos.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return lib, path


lib, library_path = _load()


class BitnetError(RuntimeError):
    """An error from libbitnet; `status` is the C status name."""

    def __init__(self, message: str, status: str = "ERROR"):
        super().__init__(message)
        self.status = status


class ContextFullError(BitnetError):
    """The session's KV cache has no room for the tokens."""


def raise_for(status: int, err: Error, *, files: bool = False) -> None:
    """Turns a failed call's status and message into a Python exception:
    ValueError for bad arguments, OSError for files (files=True: also
    malformed or unsupported ones), MemoryError, ContextFullError, KeyError
    for NOT_FOUND; BitnetError otherwise."""
    if status == OK:
        return
    msg = err.message.decode("utf-8", "replace") or "bitnet error"
    name = (lib.bn_status_name(status) or b"ERROR").decode()
    if status == IO or (files and status in (FORMAT, UNSUPPORTED, NOT_FOUND)):
        raise OSError(msg)
    if status == INVALID_ARG:
        raise ValueError(msg)
    if status == NO_MEMORY:
        raise MemoryError(msg)
    if status == CONTEXT_FULL:
        raise ContextFullError(msg, name)
    if status in (FORMAT, UNSUPPORTED):
        raise ValueError(msg)
    raise BitnetError(msg, name)


def check(status: int, err: Error, **kw) -> None:
    if status != OK:
        raise_for(status, err, **kw)
