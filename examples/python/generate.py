"""The Python example: generation, chat, and the quantization API.

    pip install ./python
    python examples/python/generate.py "Once upon a time"
"""
import sys

import numpy as np

import bitnet
from bitnet import quant

prompt = sys.argv[1] if len(sys.argv) > 1 else "Once upon a time"
model = bitnet.Model()  # the bundled tiny-bitnet model
print(model)

# Greedy text, then the same prompt streamed with sampling.
print(prompt + model.generate(prompt, max_tokens=48, temperature=0))
for piece in model.generate(prompt, max_tokens=48, temperature=0.8, seed=1, stream=True):
    print(piece, end="", flush=True)
print()
print(model.chat([{"role": "user", "content": "Tell me about a cat."}], max_tokens=32, seed=1))

# Logits without a copy.
with model.session(n_ctx=64) as s:
    s.eval(model.tokenize(prompt))
    logits = s.logits()
    print("next token:", repr(model.detokenize([int(np.argmax(logits))])))

# Quantization: a latent matrix to ternary, its error, packing, BitLinear.
w = np.random.default_rng(0).standard_normal((256, 1024)).astype(np.float32)
tw = quant.quantize_weights_ternary(w)
print(tw, quant.quantization_error(w, tw))
packed = quant.pack(tw, "TQ2_0")
print(packed, "model of 2.4e9 weights in I2_S:",
      quant.estimate_model_size(2_400_000_000, "I2_S") / 2**30, "GiB")
x = np.random.default_rng(1).standard_normal((4, 1024)).astype(np.float32)
print("bitlinear:", quant.bitlinear(x, packed)[:, :4])
