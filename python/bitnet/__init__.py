"""bitnet: BitNet b1.58 (ternary) language models and quantization, on libbitnet.

    import bitnet
    m = bitnet.Model()                       # the bundled tiny-bitnet model
    print(m.generate("Once upon a time", max_tokens=32, temperature=0))

bitnet.quant holds the quantization API (ternary weights, int8 activations,
packing to GGUF layouts, BitLinear). See docs/python.md.
"""
from . import quant
from ._lib import BitnetError, ContextFullError, library_path
from .model import Model, Session, bundled_model_path

__version__ = "0.1.0"
__all__ = ["Model", "Session", "quant", "BitnetError", "ContextFullError", "bundled_model_path",
           "library_path", "__version__"]
