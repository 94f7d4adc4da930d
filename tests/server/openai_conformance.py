"""openai_conformance.py: the official `openai` Python SDK against bitnet-server.

A real client that nobody here wrote: chat, streaming, completions, stop
strings, seeds, the error paths and auth. Run by openai-conformance.sh,
which starts the server; talks to loopback only. Every call has a timeout
and no retries. Exits non-zero on the first failure.

    python openai_conformance.py BASE_URL API_KEY
"""
import sys

import openai

base_url, key = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=30.0)
checks = 0


def check(cond, what):
    global checks
    if not cond:
        raise SystemExit(f"openai-conformance: FAILED: {what}")
    checks += 1


def expect_error(exc_type, fn, status, code=None):
    try:
        fn()
    except exc_type as e:
        check(e.status_code == status, f"{exc_type.__name__}: status {e.status_code}, want {status}")
        body = e.body if isinstance(e.body, dict) else {}
        check(isinstance(body.get("message"), str) and body["message"], f"error message in {e.body}")
        if code is not None:
            check(body.get("code") == code, f"error code {body.get('code')}, want {code}")
        return
    raise SystemExit(f"openai-conformance: FAILED: no {exc_type.__name__}")


# models
models = client.models.list()
check(len(models.data) == 1 and models.data[0].id, "one model listed")
model = models.data[0].id

# chat, not streamed
msgs = [{"role": "system", "content": "You tell stories."},
        {"role": "user", "content": "Tell me a story about a cat."}]
r = client.chat.completions.create(model=model, messages=msgs, max_tokens=24, temperature=0)
check(r.object == "chat.completion", "chat object")
check(r.choices[0].message.role == "assistant", "assistant role")
check(isinstance(r.choices[0].message.content, str) and r.choices[0].message.content, "chat content")
check(r.choices[0].finish_reason in ("stop", "length"), "finish_reason")
check(r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens, "usage adds up")
greedy = r.choices[0].message.content

# chat, streamed: the same greedy text, then usage
stream = client.chat.completions.create(model=model, messages=msgs, max_tokens=24, temperature=0,
                                        stream=True, stream_options={"include_usage": True})
parts, finish, usage = [], None, None
for chunk in stream:
    check(chunk.object == "chat.completion.chunk", "chunk object")
    if chunk.usage is not None:
        usage = chunk.usage
    for c in chunk.choices:
        if c.delta.content:
            parts.append(c.delta.content)
        if c.finish_reason:
            finish = c.finish_reason
check("".join(parts) == greedy, f"stream text {''.join(parts)!r} == {greedy!r}")
check(finish in ("stop", "length"), "stream finish_reason")
check(usage is not None and usage.completion_tokens >= 1, "stream usage chunk")

# completions, plain and streamed
c = client.completions.create(model=model, prompt="Once upon a time", max_tokens=20, temperature=0,
                              extra_body={"ignore_eos": True})
check(c.object == "text_completion" and c.choices[0].text, "completion text")
check(c.choices[0].finish_reason == "length" and c.usage.completion_tokens == 20, "max_tokens honoured")
text = c.choices[0].text
s = client.completions.create(model=model, prompt="Once upon a time", max_tokens=20, temperature=0,
                              stream=True, extra_body={"ignore_eos": True})
check("".join(ch.choices[0].text for ch in s if ch.choices) == text, "streamed completion text")

# stop strings (a piece from the middle of the greedy text)
stop = text[8:13]
c = client.completions.create(model=model, prompt="Once upon a time", max_tokens=20, temperature=0,
                              stop=[stop], extra_body={"ignore_eos": True})
check(c.choices[0].text == text[:text.index(stop)], f"stop {stop!r} cut the text")
check(c.choices[0].finish_reason == "stop", "finish_reason stop")

# seeds: the same seed, the same sample
a = client.completions.create(model=model, prompt="The dog", max_tokens=16, temperature=1.0, seed=123)
b = client.completions.create(model=model, prompt="The dog", max_tokens=16, temperature=1.0, seed=123)
check(a.choices[0].text == b.choices[0].text, "seeded sampling is reproducible")

# llama-server's extras pass through extra_body
c = client.completions.create(model=model, prompt="The cat", max_tokens=8,
                              extra_body={"top_k": 5, "min_p": 0.1, "repeat_penalty": 1.1})
check(c.usage.completion_tokens >= 1, "extras accepted")

# error paths
expect_error(openai.BadRequestError,
             lambda: client.chat.completions.create(model=model, messages=[], max_tokens=4), 400)
expect_error(openai.BadRequestError,
             lambda: client.chat.completions.create(
                 model=model, messages=[{"role": "wizard", "content": "x"}], max_tokens=4), 400)
expect_error(openai.BadRequestError,
             lambda: client.completions.create(model=model, prompt="x", max_tokens=10**9), 400)
expect_error(openai.BadRequestError,
             lambda: client.completions.create(model=model, prompt="x", temperature=-3), 400)
expect_error(openai.BadRequestError,
             lambda: client.completions.create(model=model, prompt="x", n=2), 400)
expect_error(openai.BadRequestError,
             lambda: client.completions.create(model=model, prompt="cat " * 2000, max_tokens=4),
             400, "context_length_exceeded")
expect_error(openai.BadRequestError,
             lambda: client.chat.completions.create(
                 model=model, messages=[{"role": "user", "content": "hi"}], stream=True,
                 max_tokens=4, extra_body={"top_k": "many"}), 400)

# auth
bad = openai.OpenAI(base_url=base_url, api_key=key + "-wrong", max_retries=0, timeout=30.0)
expect_error(openai.AuthenticationError, lambda: bad.models.list(), 401, "invalid_api_key")
expect_error(openai.AuthenticationError,
             lambda: bad.chat.completions.create(model=model, messages=msgs, max_tokens=4), 401)

print(f"openai-conformance: openai {openai.__version__}: {checks} checks passed")
