"""Errors become Python exceptions with the library's message; bad arrays
are converted or refused; nothing crashes the interpreter."""
import numpy as np
import pytest

import bitnet
from bitnet import quant


def test_missing_and_garbage_files_are_oserror(tmp_path):
    with pytest.raises(OSError):
        bitnet.Model(str(tmp_path / "nope.gguf"))
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\xff" * 100)
    with pytest.raises(OSError):
        bitnet.Model(str(bad))
    bad.write_bytes(b"not a gguf at all")
    with pytest.raises(OSError):
        bitnet.Model(str(bad))


def test_wrong_shapes_and_dtypes_are_valueerror():
    with pytest.raises(ValueError, match="dimensions"):
        quant.quantize_weights_ternary(np.zeros((2, 2, 2), np.float32))
    with pytest.raises(ValueError, match="dtype"):
        quant.quantize_weights_ternary(np.zeros((2, 2), np.complex64))
    with pytest.raises(ValueError, match="dtype"):
        quant.quantize_activations_int8(np.array([["a", "b"]]))
    with pytest.raises(ValueError, match="empty"):
        quant.quantize_weights_ternary(np.zeros((0, 4), np.float32))
    with pytest.raises(ValueError, match="group size 100 does not divide"):
        quant.quantize_weights_ternary(np.ones((2, 256), np.float32), group_size=100)
    with pytest.raises(ValueError, match="K = 8 values per token, w has 256"):
        quant.bitlinear(np.ones((1, 8)), quant.quantize_weights_ternary(np.ones((2, 256))))
    with pytest.raises(ValueError, match="multiple of 256"):
        quant.pack(quant.quantize_weights_ternary(np.ones((2, 128), np.float32)), "TQ2_0")
    with pytest.raises(ValueError, match="group size 64"):
        quant.pack(quant.quantize_weights_ternary(np.ones((2, 256)), group_size=64), "TQ2_0")
    with pytest.raises(ValueError, match="unknown type"):
        quant.pack(quant.quantize_weights_ternary(np.ones((2, 256))), "Q4_0")
    with pytest.raises(ValueError, match="writeable C-contiguous float32"):
        quant.dequantize_weights(quant.quantize_weights_ternary(np.ones((2, 4))),
                                 out=np.empty((2, 4), np.float64))


def test_non_contiguous_and_other_dtypes_are_converted():
    w = np.random.default_rng(0).standard_normal((64, 512))
    a = quant.quantize_weights_ternary(w[:, ::2])          # float64, strided
    b = quant.quantize_weights_ternary(np.ascontiguousarray(w[:, ::2], np.float32))
    np.testing.assert_array_equal(a.codes, b.codes)
    assert a.scales[0] == b.scales[0]
    t = quant.quantize_activations_int8(np.asfortranarray(w.astype(np.float32)))
    np.testing.assert_array_equal(t.q, quant.quantize_activations_int8(w.astype(np.float32)).q)
    assert quant.quantize_activations_int8(np.arange(10)).q.shape == (1, 10)  # ints


def test_nan_inf_and_overflowing_values_are_refused():
    w = np.ones((4, 8), np.float32)
    w[2, 3] = np.nan
    with pytest.raises(ValueError, match=r"w\[2, 3\] is NaN"):
        quant.quantize_weights_ternary(w)
    w[2, 3] = np.inf
    with pytest.raises(ValueError, match=r"infinite"):
        quant.quantize_activations_int8(w)
    big = np.full((64, 64), 3e38, np.float32)
    with pytest.raises(ValueError, match="overflows float32"):
        quant.quantize_weights_ternary(big)
    x = np.array([[-3e38, 3e38]], np.float32)
    with pytest.raises(ValueError, match="overflows float32"):
        quant.quantize_activations_int8(x, quant.QuantConfig(symmetric=False))
    # Large but representable: fine.
    qa = quant.quantize_activations_int8(x)
    assert qa.q.tolist() == [[-127, 127]]


def test_corrupt_packed_bytes_are_refused():
    tw = quant.quantize_weights_ternary(np.random.default_rng(1).standard_normal((4, 256)))
    p = quant.pack(tw, "TQ2_0")
    with pytest.raises(ValueError, match="needs 264 bytes"):
        quant.unpack(p.data[:100], "TQ2_0", (4, 256))
    i2 = quant.pack(tw, "I2_S").data.copy()
    i2[0] = 0xFF  # a 2-bit code of 3
    with pytest.raises(ValueError):
        quant.unpack(i2, "I2_S", (4, 256))
    with pytest.raises(ValueError):
        quant.TernaryWeight(np.full((2, 4), 3, np.int8), [1.0]).dequantize()
    # Bytes objects work as packed data; too few bytes are refused.
    x = np.ones((1, 256), np.float32)
    y = quant.bitlinear(x, quant.PackedWeight(p.data.tobytes(), "TQ2_0", (4, 256)))
    np.testing.assert_array_equal(y, quant.bitlinear(x, p))
    with pytest.raises(ValueError, match="needs 264 bytes"):
        quant.bitlinear(x, quant.PackedWeight(p.data[:10], "TQ2_0", (4, 256)))
    with pytest.raises(ValueError, match="packed data"):
        quant.unpack(np.zeros(264, np.float32), "TQ2_0", (4, 256))


def test_bad_tokens_and_closed_objects(model):
    with pytest.raises(ValueError, match="lie in"):
        model.detokenize([5, 99999])
    s = model.session(n_ctx=16, n_threads=1)
    with pytest.raises(ValueError, match="no row"):
        s.logits()
    with pytest.raises(ValueError):
        s.eval([])
    with pytest.raises(ValueError):
        s.eval([-1])
    s.close()
    with pytest.raises(ValueError, match="closed"):
        s.eval([1])
    with pytest.raises(ValueError, match="max_tokens"):
        model.generate("hi", max_tokens=-1)


def test_views_outlive_closed_sessions_and_models():
    """A logits view keeps the session's memory, a session its model's:
    closing in any order never leaves a dangling pointer."""
    import gc
    m = bitnet.Model(n_threads=1)
    s = m.session(n_ctx=16, n_threads=1)
    s.eval(m.tokenize("Hi"))
    v = s.logits()
    want = v.copy()
    m.close()           # the session still uses the model
    s.eval([5])         # fine
    v2 = s.logits()
    s.close()
    del s, m
    gc.collect()
    np.testing.assert_array_equal(v, v2)  # both views of the one buffer, still readable
    assert v.shape == want.shape
