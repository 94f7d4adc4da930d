"""bitnet.quant against numpy references of the BitNet formulas, round
trips, and the bytes bitnet-quantize writes."""
import os
import subprocess

import numpy as np
import pytest

from bitnet import quant
from gguf_io import read_tensors, write_f32

rng = np.random.default_rng(1234)
BUNDLED = None


def ulp_close(a, b, n=1):
    a, b = np.float32(a), np.float32(b)
    return abs(float(a) - float(b)) <= n * float(np.spacing(max(abs(a), abs(b))))


def ref_gamma(w):
    """max(mean|w|, 1e-5), the float32 value of the exact mean."""
    g = np.float32(np.mean(np.abs(w.astype(np.float64))))
    return max(g, np.float32(1e-5))


def torch_gamma(w):
    """gamma as PyTorch computes w.abs().mean() in float32 (BitNet's
    reference): float32 sums in its order (8 lanes, 4 accumulators; for
    fewer than 512 values no cascade). The library sums in this order so that
    a PyTorch export's scales come out bit for bit (loader/ternarize.h)."""
    a = np.abs(np.asarray(w, np.float32).reshape(-1))
    n = a.size
    assert n < 512
    n_vec = n // 8
    size = n_vec // 4
    acc = np.zeros((4, 8), np.float32)
    for i in range(size):
        for k in range(4):
            acc[k] = acc[k] + a[(i * 4 + k) * 8:(i * 4 + k) * 8 + 8]
    for v in range(size * 4, n_vec):
        acc[0] = acc[0] + a[v * 8:v * 8 + 8]
    for k in range(1, 4):
        acc[0] = acc[0] + acc[k]
    total = np.float32(0)
    for k in range(n_vec * 8, n):
        total = np.float32(total + a[k])
    for lane in range(8):
        total = np.float32(total + acc[0][lane])
    return max(np.float32(total / np.float32(n)), np.float32(1e-5))


def ref_codes(w, gamma):
    return np.round(np.clip(w.astype(np.float32) / np.float32(gamma), -1, 1)).astype(np.int8)


@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (64, 256), (96, 1000), (256, 2560)])
def test_ternary_per_tensor_matches_absmean_formula(shape):
    w = (rng.standard_normal(shape) * 0.02).astype(np.float32)
    tw = quant.quantize_weights_ternary(w)
    assert tw.codes.shape == shape and tw.codes.dtype == np.int8 and tw.scales.shape == (1,)
    assert ulp_close(tw.scales[0], ref_gamma(w))
    # Codes from the formula with the library's gamma: exactly equal.
    np.testing.assert_array_equal(tw.codes, ref_codes(w, tw.scales[0]))
    assert set(np.unique(tw.codes)) <= {-1, 0, 1}


@pytest.mark.parametrize("G", [32, 64, 128, 256])
def test_ternary_per_group_matches_absmean_formula(G):
    w = (rng.standard_normal((16, 512)) * rng.uniform(0.01, 3, (16, 1))).astype(np.float32)
    tw = quant.quantize_weights_ternary(w, quant.QuantConfig(group_size=G, per_group=True))
    assert tw.scales.shape == (16, 512 // G) and tw.group_size == G
    groups = w.reshape(16, 512 // G, G)
    for r in range(16):
        for g in range(512 // G):
            assert ulp_close(tw.scales[r, g], torch_gamma(groups[r, g]))
            assert ulp_close(tw.scales[r, g], ref_gamma(groups[r, g]), n=4)
            np.testing.assert_array_equal(tw.codes[r, g * G:(g + 1) * G],
                                          ref_codes(groups[r, g], tw.scales[r, g]))


def test_ternary_rounds_half_to_even_and_floors_the_scale():
    w = np.array([[0.5, 1.5, 1.0, 1.0, -0.5, -1.5, 1.0, 1.0]], dtype=np.float32)  # mean|w| = 1
    tw = quant.quantize_weights_ternary(w)
    assert tw.scales[0] == 1.0
    np.testing.assert_array_equal(tw.codes, [[0, 1, 1, 1, 0, -1, 1, 1]])
    z = quant.quantize_weights_ternary(np.zeros((2, 4), np.float32))
    assert z.scales[0] == np.float32(1e-5) and not z.codes.any()


def test_ternary_dequantize_round_trip():
    w = rng.standard_normal((32, 256)).astype(np.float32)
    for G in (0, 64, 256):
        tw = quant.quantize_weights_ternary(w, group_size=G)
        d = quant.dequantize_weights(tw)
        scale = np.repeat(tw.scales, G, axis=1) if G else tw.scales[0]
        np.testing.assert_array_equal(d, tw.codes.astype(np.float32) * scale)
        # Quantizing the dequantized weights gives the same codes back.
        tw2 = quant.quantize_weights_ternary(d, group_size=G)
        np.testing.assert_array_equal(tw2.codes, tw.codes)
        out = np.empty_like(d)
        assert quant.dequantize_weights(tw, out=out) is out


def ref_act_per_token(x):
    amax = np.maximum(np.abs(x).max(axis=1), np.float32(1e-5)).astype(np.float32)
    s = (np.float32(127.0) / amax).astype(np.float32)
    q = np.clip(np.rint(x * s[:, None]), -128, 127).astype(np.int8)
    return q, s


@pytest.mark.parametrize("shape", [(1, 1), (5, 33), (17, 256), (64, 2560)])
def test_activations_per_token_match_absmax_formula(shape):
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    qa = quant.quantize_activations_int8(x)
    q, s = ref_act_per_token(x)
    np.testing.assert_array_equal(qa.q, q)
    for a, b in zip(qa.scales, s):
        assert ulp_close(a, b)
    np.testing.assert_array_equal(qa.scales, s)  # in fact bit-exact
    assert qa.zero_points is None and qa.q.shape == shape


def test_activations_round_half_to_even():
    # amax 127 -> scale 1: x*scale = k + 0.5 exactly.
    x = np.array([[127.0, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5]], dtype=np.float32)
    qa = quant.quantize_activations_int8(x)
    np.testing.assert_array_equal(qa.q, [[127, 0, 2, 2, 0, -2, -2, 4]])


def test_activations_per_tensor_clip_and_asymmetric():
    x = (rng.standard_normal((8, 64)) * 2).astype(np.float32)
    qa = quant.quantize_activations_int8(x, quant.QuantConfig(per_token=False))
    s = np.float32(127.0) / np.abs(x).max()
    assert qa.scales.shape == (1,) and ulp_close(qa.scales[0], s)
    np.testing.assert_array_equal(qa.q, np.clip(np.rint(x * qa.scales[0]), -128, 127))
    # Clip: amax = min(max|x|, clip), x clipped first.
    qc = quant.quantize_activations_int8(x, quant.QuantConfig(act_clip=1.0))
    np.testing.assert_array_equal(qc.scales, np.float32(127.0))
    np.testing.assert_array_equal(qc.q, np.clip(np.rint(np.clip(x, -1, 1) * np.float32(127)),
                                                -128, 127))
    # Asymmetric: the dequantized values are within half a step.
    xa = (rng.random((4, 100)) * 6 - 1).astype(np.float32)  # in [-1, 5)
    aa = quant.quantize_activations_int8(xa, quant.QuantConfig(symmetric=False))
    assert aa.zero_points is not None and aa.zero_points.dtype == np.int32
    d = quant.dequantize_activations(aa)
    step = 1.0 / aa.scales[:, None]
    assert np.all(np.abs(d - xa) <= step * 0.5 + 1e-6)
    assert np.all(aa.q.min(axis=1) == -128) and np.all(aa.q.max(axis=1) == 127)
    # The range always holds 0, and 0 comes back exactly.
    z = quant.quantize_activations_int8(np.array([[0.0, 2.0, 3.0]], np.float32),
                                        quant.QuantConfig(symmetric=False))
    assert z.zero_points[0] == -128 and z.dequantize()[0, 0] == 0.0


def test_activations_dequantize_round_trip():
    x = rng.standard_normal((10, 300)).astype(np.float32)
    qa = quant.quantize_activations_int8(x)
    d = quant.dequantize_activations(qa)
    np.testing.assert_array_equal(d, qa.q.astype(np.float32) / qa.scales[:, None])
    assert np.all(np.abs(d - x) <= 0.5 / qa.scales[:, None] + 1e-7)


def test_quantization_error_matches_numpy():
    w = rng.standard_normal((64, 128)).astype(np.float32)
    tw = quant.quantize_weights_ternary(w)
    st = quant.quantization_error(w, tw)
    d = w.astype(np.float64) - tw.dequantize().astype(np.float64)
    assert st.mse == pytest.approx(np.mean(d * d), rel=1e-12)
    assert st.max_abs == pytest.approx(np.abs(d).max(), rel=1e-12)
    assert st.snr_db == pytest.approx(10 * np.log10(np.sum(w.astype(np.float64) ** 2) /
                                                    np.sum(d * d)), rel=1e-12)
    assert quant.quantization_error(w, w).snr_db == float("inf")


@pytest.mark.parametrize("t", ["I2_S", "TQ2_0", "TQ1_0"])
def test_pack_unpack_round_trip(t):
    w = rng.standard_normal((8, 512)).astype(np.float32)
    tw = quant.quantize_weights_ternary(w)
    p = quant.pack(tw, t)
    assert p.data.dtype == np.uint8 and p.data.size == quant.packed_bytes(t, (8, 512))
    back = quant.unpack(p.data, t, (8, 512))
    np.testing.assert_array_equal(back.codes, tw.codes)
    want = tw.scales[0] if t == "I2_S" else np.float32(np.float16(tw.scales[0]))
    assert np.all(back.scales == want)
    assert back.group_size == (0 if t == "I2_S" else 256)
    # Per-256 scales survive a TQ layout (as f16).
    if t != "I2_S":
        tg = quant.quantize_weights_ternary(w, group_size=256)
        bg = quant.unpack(quant.pack(tg, t).data, t, (8, 512))
        np.testing.assert_array_equal(bg.codes, tg.codes)
        np.testing.assert_array_equal(bg.scales, tg.scales.astype(np.float16).astype(np.float32))


def _bundled():
    from bitnet.model import bundled_model_path
    return bundled_model_path()


@pytest.mark.parametrize("t", ["I2_S", "TQ2_0", "TQ1_0"])
def test_pack_of_bundled_weights_equals_bitnet_quantize(tmp_path, tool, t):
    src = read_tensors(_bundled())
    out = tmp_path / f"tiny-{t}.gguf"
    subprocess.run([tool("bitnet-quantize"), _bundled(), str(out), t.lower()], check=True,
                   capture_output=True)
    dst = read_tensors(str(out))
    n = 0
    for name, (stype, shape, data) in src.items():
        if stype != "I2_S":
            continue
        tw = quant.unpack(data, "I2_S", shape)
        assert dst[name][0] == t
        assert quant.pack(tw, t).data.tobytes() == dst[name][2], name
        n += 1
    assert n == 42


@pytest.mark.parametrize("t", ["I2_S", "TQ2_0", "TQ1_0"])
def test_pack_of_latent_weights_equals_bitnet_quantize(tmp_path, tool, t):
    ws = {"blk.0.attn_q.weight": rng.standard_normal((16, 512)).astype(np.float32) * 0.05,
          "blk.0.ffn_down.weight": rng.standard_normal((8, 768)).astype(np.float32)}
    src, out = tmp_path / "latent.gguf", tmp_path / "out.gguf"
    write_f32(str(src), ws)
    subprocess.run([tool("bitnet-quantize"), str(src), str(out), t.lower()], check=True,
                   capture_output=True)
    dst = read_tensors(str(out))
    for name, w in ws.items():
        tw = quant.quantize_weights_ternary(w)
        assert quant.pack(tw, t).data.tobytes() == dst[name][2], name


@pytest.mark.parametrize("G", [0, 256, 512])
def test_bitlinear_equals_the_exact_integer_formula(G):
    rows, K, n = 48, 512, 5
    w = rng.standard_normal((rows, K)).astype(np.float32)
    x = rng.standard_normal((n, K)).astype(np.float32)
    tw = quant.quantize_weights_ternary(w, group_size=G)
    y = quant.bitlinear(x, tw)
    qa = quant.quantize_activations_int8(x)
    q, c = qa.q.astype(np.int64), tw.codes.astype(np.int64)
    if G in (0, K):
        acc = (q @ c.T).astype(np.float32)
        sc = tw.scales[0] if G == 0 else tw.scales[:, 0]
        ref = acc / qa.scales[:, None] * sc
    else:  # per 256: s = sum over blocks of d * acc_b, in order, then / act_scale
        s = np.zeros((n, rows), np.float32)
        for b in range(K // 256):
            acc_b = (q[:, b * 256:(b + 1) * 256] @ c[:, b * 256:(b + 1) * 256].T).astype(np.float32)
            s = s + tw.scales[:, b][None, :] * acc_b
        ref = s / qa.scales[:, None]
    np.testing.assert_array_equal(y, ref.astype(np.float32))
    # Threads and kernel tables do not change the result; packed weights neither.
    np.testing.assert_array_equal(quant.bitlinear(x, tw, n_threads=2), y)
    np.testing.assert_array_equal(quant.bitlinear(x, tw, kernels="ref"), y)
    if G == 0:
        np.testing.assert_array_equal(quant.bitlinear(x, quant.pack(tw, "I2_S")), y)
        np.testing.assert_array_equal(quant.bitlinear(x[0], tw), y[0])


def test_bitlinear_equals_the_models_projection(model):
    """The first layer's q projection of the bundled model, on its own
    normed input, through bitlinear and through a packed I2_S copy."""
    src = read_tensors(_bundled())
    stype, shape, data = src["blk.0.attn_q.weight"]
    packed = quant.PackedWeight(np.frombuffer(data, np.uint8), stype, shape)
    x = rng.standard_normal((3, shape[1])).astype(np.float32)
    y1 = quant.bitlinear(x, packed)
    y2 = quant.bitlinear(x, packed.unpack())
    np.testing.assert_array_equal(y1, y2)


def test_estimate_model_size():
    assert quant.estimate_model_size(256, "TQ2_0") == 66
    assert quant.estimate_model_size(257, "TQ1_0") == 108
    assert quant.estimate_model_size(128, "I2_S") == 32 + 32
    assert quant.estimate_model_size(10, "F16") == 20
    assert quant.estimate_model_size(2_000_000_000, "I2_S") == 500_000_032
    assert quant.bits_per_weight("TQ1_0") == pytest.approx(1.6875)
    with pytest.raises(ValueError, match="2\\^64"):
        quant.estimate_model_size(2**64 - 1, "F32")
    with pytest.raises(ValueError, match="unknown type"):
        quant.estimate_model_size(10, "Q4_K")


def test_reprs_and_shapes():
    tw = quant.quantize_weights_ternary(np.ones((4, 256), np.float32), group_size=128)
    assert "TernaryWeight(shape=(4, 256), group_size=128" in repr(tw)
    qa = quant.quantize_activations_int8(np.ones((2, 8), np.float32))
    assert repr(qa).startswith("QuantizedActivation(shape=(2, 8), per_token, symmetric")
    assert "PackedWeight(type=TQ2_0, shape=(4, 256)" in repr(quant.pack(
        quant.quantize_weights_ternary(np.ones((4, 256), np.float32)), "tq2_0"))
