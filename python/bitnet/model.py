"""bitnet.Model and bitnet.Session: models, tokens, generation and chat
through libbitnet's public API (runtime/bitnet.h)."""
from __future__ import annotations

import codecs
import ctypes
import os
from ctypes import POINTER, byref, c_char_p, c_float, c_int32, c_size_t, c_void_p
from typing import Iterator, List, Optional, Sequence, Union

import numpy as np

from . import _lib
from ._lib import lib

__all__ = ["Model", "Session", "bundled_model_path"]

_i32p = POINTER(c_int32)


def bundled_model_path() -> str:
    """The bundled tiny-bitnet model: shipped in the package, or (in a source
    checkout) in the repository's models/."""
    here = os.path.dirname(os.path.abspath(__file__))
    for p in (os.path.join(here, "models", "tiny-bitnet-I2_S.gguf"),
              os.path.join(here, "..", "..", "models", "tiny-bitnet-I2_S.gguf")):
        if os.path.exists(p):
            return os.path.abspath(p)
    raise OSError("the bundled model tiny-bitnet-I2_S.gguf is missing from the package")


def _token_ids(ids, n_vocab: int) -> np.ndarray:
    """ids as a C int32 array, each checked against the vocabulary."""
    try:
        arr = np.asarray(ids, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        raise ValueError("token ids: expected a sequence of integers") from None
    if arr.ndim != 1:
        raise ValueError(f"token ids: expected a 1-D sequence, got shape {arr.shape}")
    if arr.size and (arr.min() < 0 or arr.max() >= n_vocab):
        raise ValueError(f"token ids must lie in [0, {n_vocab})")
    return np.ascontiguousarray(arr, dtype=np.int32)


class _Handle:
    """Owns one C object and frees it when the last Python reference goes:
    a session's handle holds its model's, a logits view holds its session's,
    so nothing is freed while something can still reach it (close() only
    drops the owner's reference)."""

    __slots__ = ("ptr", "_free", "_dep")

    def __init__(self, ptr, free, dep=None):
        self.ptr, self._free, self._dep = ptr, free, dep

    def __del__(self):
        try:
            if self.ptr:
                self._free(self.ptr)
                self.ptr = None
        except Exception:
            pass


class _Owned:
    """The lifetime half of Model and Session: close(), the with-statement
    and _p(), the C pointer of a handle not yet closed. A subclass sets
    self._h (a _Handle) and names itself in _kind for the error message."""

    _h = None
    _kind = "object"

    def close(self) -> None:
        self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _p(self):
        if self._h is None:
            raise ValueError(f"the {self._kind} is closed")
        return self._h.ptr


def _default_threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


class Model(_Owned):
    """A loaded GGUF model (read-only; share it between sessions and threads).

    Model(path=None) loads the bundled tiny-bitnet model. n_threads: threads
    for generate/chat sessions (default: up to 4); kernels: a kernel table
    name ("ref", "avx2", ...), default the best for this CPU."""

    _kind = "model"

    def __init__(self, path: Optional[Union[str, os.PathLike]] = None, *,
                 n_threads: Optional[int] = None, kernels: Optional[str] = None,
                 use_mmap: bool = True):
        self._h = None
        self.path = os.fspath(path) if path is not None else bundled_model_path()
        self.n_threads = int(n_threads) if n_threads else _default_threads()
        opts = _lib.ModelOptions()
        lib.bn_model_options_default(byref(opts))
        opts.n_threads = self.n_threads
        opts.kernels = kernels.encode() if kernels else None
        opts.use_mmap = bool(use_mmap)
        ptr, e = c_void_p(), _lib.Error()
        _lib.check(lib.bn_model_load(self.path.encode(), byref(opts), byref(ptr), byref(e)), e,
                   files=True)
        self._h = _Handle(ptr, lib.bn_model_free)

    # ---- lifetime ----
    def close(self) -> None:
        """Releases the model; the memory goes once its sessions are gone too."""
        super().close()

    # ---- information ----
    @property
    def arch(self) -> str:
        return lib.bn_model_arch(self._p()).decode()

    @property
    def description(self) -> str:
        return lib.bn_model_description(self._p()).decode()

    @property
    def n_vocab(self) -> int:
        return lib.bn_model_n_vocab(self._p())

    @property
    def n_ctx_train(self) -> int:
        return lib.bn_model_n_ctx_train(self._p())

    @property
    def n_embd(self) -> int:
        return lib.bn_model_n_embd(self._p())

    @property
    def n_layer(self) -> int:
        return lib.bn_model_n_layer(self._p())

    @property
    def n_params(self) -> int:
        return lib.bn_model_n_params(self._p())

    @property
    def kernels(self) -> str:
        return lib.bn_model_kernels_name(self._p()).decode()

    @property
    def chat_template(self) -> Optional[str]:
        t = lib.bn_model_chat_template(self._p())
        return t.decode("utf-8", "replace") if t else None

    @property
    def bos(self) -> int:
        return lib.bn_model_bos(self._p())

    @property
    def eos(self) -> int:
        return lib.bn_model_eos(self._p())

    def is_eog(self, token: int) -> bool:
        return bool(lib.bn_model_is_eog(self._p(), int(token)))

    def __repr__(self):
        return f"Model({self.description!r}, kernels={self.kernels!r})" if self._h \
            else "Model(closed)"

    # ---- tokens ----
    def tokenize(self, text: str, add_bos: Optional[bool] = None,
                 special: bool = False) -> List[int]:
        """Token ids of text; add_bos None: as the model's tokenizer says.
        special: parse special-token texts such as <|eot_id|>."""
        if not isinstance(text, str):
            raise ValueError(f"tokenize: text must be str, not {type(text).__name__}")
        if add_bos is None:
            add_bos = bool(lib.bn_model_add_bos(self._p()))
        raw = text.encode("utf-8")
        cap = len(raw) + 8
        e = _lib.Error()
        for _ in range(2):
            ids = (c_int32 * cap)()
            n = c_size_t()
            e = _lib.Error()
            st = lib.bn_model_tokenize(self._p(), raw, len(raw), bool(add_bos), bool(special),
                                       ids, cap, byref(n), byref(e))
            if st == _lib.INVALID_ARG and n.value > cap:
                cap = n.value
                continue
            _lib.check(st, e)
            return list(ids[:n.value])
        _lib.check(st, e)
        return []

    def _ids(self, ids: Sequence[int]):
        return _token_ids(ids, self.n_vocab)

    def detokenize(self, ids: Sequence[int]) -> str:
        """Text of a sequence of ids (invalid UTF-8 is replaced)."""
        arr = self._ids(ids)
        cap = 16 * arr.size + 16
        for _ in range(2):
            buf = ctypes.create_string_buffer(cap)
            n, e = c_size_t(), _lib.Error()
            st = lib.bn_model_detokenize(self._p(), arr.ctypes.data_as(_i32p), arr.size, buf, cap,
                                         byref(n), byref(e))
            if st == _lib.INVALID_ARG and n.value >= cap:
                cap = n.value + 1
                continue
            _lib.check(st, e)
            return buf.raw[:n.value].decode("utf-8", "replace")
        _lib.check(st, e)
        return ""

    def token_to_bytes(self, token: int) -> bytes:
        """The bytes one id stands for (control tokens: b"")."""
        buf = ctypes.create_string_buffer(64)
        n, e = c_size_t(), _lib.Error()
        st = lib.bn_model_token_to_piece(self._p(), int(token), buf, 64, byref(n), byref(e))
        if st == _lib.INVALID_ARG and n.value > 64:
            buf = ctypes.create_string_buffer(n.value)
            e = _lib.Error()
            st = lib.bn_model_token_to_piece(self._p(), int(token), buf, n.value, byref(n),
                                             byref(e))
        _lib.check(st, e)
        return buf.raw[:n.value]

    # ---- generation ----
    def session(self, n_ctx: Optional[int] = None, n_threads: Optional[int] = None,
                **kw) -> "Session":
        return Session(self, n_ctx=n_ctx, n_threads=n_threads or self.n_threads, **kw)

    def generate(self, prompt: str, max_tokens: int = 128, temperature: float = 0.8,
                 top_k: int = 40, top_p: float = 0.95, min_p: float = 0.05,
                 repeat_penalty: float = 1.0, seed: Optional[int] = None,
                 stop: Optional[Union[str, Sequence[str]]] = None, stream: bool = False,
                 n_ctx: Optional[int] = None) -> Union[str, Iterator[str]]:
        """Continues prompt (with BOS when the model adds one) for up to
        max_tokens tokens, stopping at an end-of-generation token or at the
        first stop string (not included). temperature <= 0 is greedy.
        stream=True returns an iterator of text pieces instead of the text."""
        ids = self.tokenize(prompt)
        it = self._generate_ids(ids, max_tokens, temperature, top_k, top_p, min_p,
                                repeat_penalty, seed, stop, n_ctx)
        return it if stream else "".join(it)

    def chat(self, messages: Sequence[dict], max_tokens: int = 256, stream: bool = False,
             **kw) -> Union[str, Iterator[str]]:
        """Replies to a conversation, a list of {"role": "system"|"user"|
        "assistant", "content": str}, rendered with the model's chat template
        (recognised from the GGUF, else bitnet's plain format). Other keyword
        arguments as for generate."""
        text = self.render_chat(messages, add_generation_prompt=True)
        bos = [self.bos] if lib.bn_model_add_bos(self._p()) and self.bos >= 0 else []
        ids = bos + self.tokenize(text, add_bos=False, special=True)
        it = self._generate_ids(ids, max_tokens, kw.pop("temperature", 0.8), kw.pop("top_k", 40),
                                kw.pop("top_p", 0.95), kw.pop("min_p", 0.05),
                                kw.pop("repeat_penalty", 1.0), kw.pop("seed", None),
                                kw.pop("stop", None), kw.pop("n_ctx", None))
        if kw:
            raise TypeError(f"chat: unexpected arguments {sorted(kw)}")
        return it if stream else "".join(it)

    def render_chat(self, messages: Sequence[dict], add_generation_prompt: bool = True) -> str:
        """The prompt text chat() evaluates (after BOS)."""
        roles, contents = [], []
        for i, m in enumerate(messages):
            try:
                roles.append(str(m["role"]).encode())
                contents.append(str(m["content"]).encode("utf-8"))
            except (KeyError, TypeError):
                raise ValueError(f"chat: message {i} needs 'role' and 'content'") from None
        n = len(roles)
        R, C = (c_char_p * max(n, 1))(*roles), (c_char_p * max(n, 1))(*contents)
        cap = sum(len(c) for c in contents) + 256 * (n + 1)
        for _ in range(2):
            buf = ctypes.create_string_buffer(cap)
            nb, e = c_size_t(), _lib.Error()
            st = lib.bn_model_chat_render(self._p(), R, C, n, bool(add_generation_prompt), buf,
                                          cap, byref(nb), byref(e))
            if st == _lib.INVALID_ARG and nb.value + 1 > cap:
                cap = nb.value + 1
                continue
            _lib.check(st, e)
            return buf.raw[:nb.value].decode("utf-8", "replace")
        _lib.check(st, e)
        return ""

    def _generate_ids(self, ids, max_tokens, temperature, top_k, top_p, min_p, repeat_penalty,
                      seed, stop, n_ctx) -> Iterator[str]:
        stops = [stop] if isinstance(stop, str) else [s for s in (stop or []) if s]
        if not ids:
            raise ValueError("generate: the prompt has no tokens")
        max_tokens = int(max_tokens)
        if max_tokens < 0:
            raise ValueError(f"generate: max_tokens {max_tokens} must be >= 0")
        need = len(ids) + max(max_tokens, 0)
        if n_ctx is None:
            n_ctx = min(max(need, 1), max(self.n_ctx_train, 1))
        params = _lib.SamplerParams()
        lib.bn_sampler_params_default(byref(params))
        params.temp = float(temperature)
        params.top_k = int(top_k)
        params.top_p = float(top_p)
        params.min_p = float(min_p)
        params.repeat_penalty = float(repeat_penalty)
        params.seed = int(seed) & (2**64 - 1) if seed is not None else \
            int.from_bytes(os.urandom(8), "little")
        sess = Session(self, n_ctx=n_ctx, n_threads=self.n_threads)
        sampler, e = c_void_p(), _lib.Error()
        _lib.check(lib.bn_sampler_new(byref(params), self.n_vocab, byref(sampler), byref(e)), e)

        def run():
            try:
                for t in ids:
                    lib.bn_sampler_accept(sampler, int(t))
                sess.eval(ids)
                dec = codecs.getincrementaldecoder("utf-8")("replace")
                held = ""  # text not yet given out: it may start a stop string
                hold = max((len(s) for s in stops), default=1) - 1
                tok = c_int32()
                for i in range(max_tokens):
                    err = _lib.Error()
                    _lib.check(lib.bn_sampler_sample(sampler, sess._logits_ptr(-1), byref(tok),
                                                     byref(err)), err)
                    t = tok.value
                    if self.is_eog(t):
                        break
                    lib.bn_sampler_accept(sampler, t)
                    held += dec.decode(self.token_to_bytes(t))
                    if stops:
                        cut = min((held.find(s) for s in stops if s in held), default=-1)
                        if cut >= 0:
                            held = held[:cut]
                            break
                    if len(held) > hold:
                        out, held = held[:len(held) - hold], held[len(held) - hold:]
                        yield out
                    if i + 1 < max_tokens:
                        if sess.n_past >= sess.n_ctx:
                            break
                        sess.eval([t])
                held += dec.decode(b"", final=True)
                if held:
                    yield held
            finally:
                lib.bn_sampler_free(sampler)
                sess.close()

        return run()


class Session(_Owned):
    """A KV cache and scratch over a model: feed tokens with eval, read
    logits. One thread at a time; eval releases the GIL while it runs."""

    _kind = "session"

    def __init__(self, model: Model, n_ctx: Optional[int] = None, n_threads: Optional[int] = None,
                 n_batch: Optional[int] = None, n_logits: Optional[int] = None):
        self._h = None
        self.model = model
        opts = _lib.SessionOptions()
        lib.bn_session_options_default(byref(opts))
        if n_ctx:
            opts.n_ctx = int(n_ctx)
        if n_batch:
            opts.n_batch = int(n_batch)
        if n_logits:
            opts.n_logits = int(n_logits)
        opts.n_threads = int(n_threads) if n_threads else model.n_threads
        ptr, e = c_void_p(), _lib.Error()
        _lib.check(lib.bn_session_new(model._p(), byref(opts), byref(ptr), byref(e)), e)
        self._h = _Handle(ptr, lib.bn_session_free, model._h)
        self._n_vocab = model.n_vocab
        self._last_n = 0
        self._all = False

    def close(self) -> None:
        """Releases the session: no more eval. Logit views taken from it stay
        readable (they keep its memory until they go)."""
        super().close()

    @property
    def n_past(self) -> int:
        return lib.bn_session_n_past(self._p())

    @property
    def n_ctx(self) -> int:
        return lib.bn_session_n_ctx(self._p())

    def eval(self, tokens: Sequence[int], all_logits: bool = False) -> None:
        """Appends tokens at positions n_past.. and runs them through the
        model (the GIL is released meanwhile). all_logits keeps a row of
        logits per token, else only the last."""
        arr = _token_ids(tokens, self._n_vocab)
        if arr.size == 0:
            raise ValueError("eval: no tokens")
        e = _lib.Error()
        _lib.check(lib.bn_session_eval(self._p(), arr.ctypes.data_as(_i32p), arr.size,
                                       bool(all_logits), byref(e)), e)
        self._last_n, self._all = arr.size, bool(all_logits)

    def _logits_ptr(self, i: int):
        p = lib.bn_session_logits(self._p(), int(i))
        if not p:
            raise ValueError(f"logits: no row {i} (evaluated {self._last_n} tokens, "
                             f"all_logits={self._all})")
        return p

    def logits(self, i: int = -1, copy: bool = False) -> np.ndarray:
        """Logits (n_vocab float32) of row i of the last eval (-1: the last).
        Without copy: a read-only view of the session's buffer, valid until
        the next eval, truncate or close; copy=True for an array of your own."""
        p = self._logits_ptr(i)
        buf = (c_float * self._n_vocab).from_address(ctypes.addressof(p.contents))
        arr = np.frombuffer(buf, dtype=np.float32)  # base keeps buf; buf keeps no session
        arr.flags.writeable = False
        if copy:
            return arr.copy()
        return _SessionView(arr, self._h)

    def all_logits(self, copy: bool = False) -> np.ndarray:
        """(n, n_vocab) logits of every token of the last eval with all_logits."""
        if not self._all:
            raise ValueError("all_logits: the last eval did not keep every row")
        p0 = self._logits_ptr(0)
        n = self._last_n
        buf = (c_float * (self._n_vocab * n)).from_address(ctypes.addressof(p0.contents))
        arr = np.frombuffer(buf, dtype=np.float32).reshape(n, self._n_vocab)
        arr.flags.writeable = False
        return arr.copy() if copy else _SessionView(arr, self._h)

    def truncate(self, n_keep: int) -> None:
        e = _lib.Error()
        _lib.check(lib.bn_session_truncate(self._p(), int(n_keep), byref(e)), e)


class _SessionView(np.ndarray):
    """A read-only view of a session's logits that keeps the session's
    memory alive."""

    def __new__(cls, arr, handle):
        obj = arr.view(cls)
        obj._handle = handle
        return obj

    def __array_finalize__(self, obj):
        self._handle = getattr(obj, "_handle", None)
