"""bitnet.Model and Session on the bundled model."""
import json
import os
import subprocess
import threading

import numpy as np
import pytest

import bitnet

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def test_bundled_model_loads(model):
    assert model.arch == "bitnet-b1.58"
    assert model.n_vocab == 2048 and model.n_layer == 6 and model.n_embd == 256
    assert "tiny-bitnet" in repr(model)


def test_tokenize_detokenize(model):
    ids = model.tokenize("Once upon a time")
    assert ids[0] == model.bos == 1
    assert model.detokenize(ids[1:]).strip() == "Once upon a time"
    assert model.tokenize("hello", add_bos=False)[0] != model.bos
    assert model.tokenize("") == [model.bos]
    long = "a little cat " * 500
    assert model.detokenize(model.tokenize(long, add_bos=False)).strip() == long.strip()


@pytest.mark.parametrize("prompt", ["Once upon a time", "The little dog wanted to"])
def test_greedy_generate_equals_bitnet_run(model, tool, prompt):
    run = subprocess.run([tool("bitnet-run"), "-p", prompt, "-n", "40", "--temp", "0", "-t", "1",
                          "--no-display-prompt"], check=True, capture_output=True)
    want = run.stdout.decode("utf-8")
    got = model.generate(prompt, max_tokens=40, temperature=0)
    assert want.rstrip("\n") == got


def test_greedy_generate_follows_the_pytorch_reference(model):
    """Up to the first near-tie of the PyTorch model's greedy continuation."""
    ref = json.load(open(os.path.join(REPO, "models", "reference", "reference.json")))
    p = ref["prompts"][0]
    text = p.get("safe_text") or p["greedy64_text"][:20]
    got = model.generate(p["prompt"], max_tokens=64, temperature=0)
    assert got.lstrip().startswith(text.lstrip()[:len(text.lstrip())])


def test_stream_and_stop(model):
    full = model.generate("Once upon a time", max_tokens=30, temperature=0)
    pieces = list(model.generate("Once upon a time", max_tokens=30, temperature=0, stream=True))
    assert len(pieces) > 1 and "".join(pieces) == full
    stop = full.split()[4]
    cut = model.generate("Once upon a time", max_tokens=30, temperature=0, stop=[stop])
    assert cut == full[:full.index(stop)]
    streamed = "".join(model.generate("Once upon a time", max_tokens=30, temperature=0,
                                      stop=stop, stream=True))
    assert streamed == cut


def test_sampling_is_seeded(model):
    kw = dict(max_tokens=20, temperature=1.0, top_k=40, top_p=0.9, min_p=0.05,
              repeat_penalty=1.1)
    a = model.generate("The cat", seed=7, **kw)
    assert a == model.generate("The cat", seed=7, **kw)
    assert any(model.generate("The cat", seed=s, **kw) != a for s in range(8, 12))


def test_chat_uses_the_template(model):
    text = model.render_chat([{"role": "system", "content": "Be kind."},
                              {"role": "user", "content": "Hi"}])
    assert text == "System: Be kind.\nUser: Hi\nAssistant:"  # plain: the model has no template
    reply = model.chat([{"role": "user", "content": "Tell me a story"}], max_tokens=16,
                       temperature=0)
    assert isinstance(reply, str) and reply
    assert "".join(model.chat([{"role": "user", "content": "Tell me a story"}], max_tokens=16,
                              temperature=0, stream=True)) == reply
    with pytest.raises(ValueError, match="role"):
        model.render_chat([{"role": "robot", "content": "x"}])
    with pytest.raises(ValueError, match="needs 'role'"):
        model.render_chat([{"text": "x"}])


def test_session_eval_and_logits(model):
    ids = model.tokenize("The little dog wanted to")
    with model.session(n_ctx=64, n_threads=1) as s:
        s.eval(ids, all_logits=True)
        assert s.n_past == len(ids)
        last = s.logits()
        assert last.shape == (model.n_vocab,) and last.dtype == np.float32
        assert not last.flags.writeable and not last.flags.owndata  # a view, no copy
        allrows = s.all_logits(copy=True)
        np.testing.assert_array_equal(allrows[-1], last)
        kept = s.logits(copy=True)
        # Splitting the prompt gives the same logits.
        s.truncate(0)
        s.eval(ids[:3])
        s.eval(ids[3:])
        np.testing.assert_array_equal(s.logits(), kept)
        assert int(np.argmax(kept)) == 472  # models/reference: greedy64[0] of this prompt


def test_eval_releases_the_gil(model):
    """Another Python thread runs while eval computes."""
    ids = model.tokenize("once upon a time " * 40)[:200]
    with model.session(n_ctx=256, n_threads=1) as s:
        ticks, done = [0], threading.Event()

        def tick():
            while not done.is_set():
                ticks[0] += 1

        t = threading.Thread(target=tick)
        t.start()
        before = ticks[0]
        for _ in range(3):
            s.truncate(0)
            s.eval(ids)
        done.set()
        t.join()
        assert ticks[0] > before


def test_context_full_is_an_exception(model):
    with model.session(n_ctx=8, n_threads=1) as s:
        with pytest.raises(bitnet.ContextFullError):
            s.eval(list(range(3, 13)))
        assert s.n_past == 0
