#!/usr/bin/env python3
"""gen-hf-packed-checkpoints.py: tiny random packed BitNet checkpoints and
Hugging Face transformers' own float32 logits for them (offline test-data
generation only; not part of the test run).

Real BitNet models are published as packed checkpoints: uint8 [out/4, in]
ternary codes plus a `weight_scale` per projection. transformers runs them
with `integrations/bitnet.py`: AutoBitLinear (quantization_config
linear_class "autobitlinear") multiplies the output by weight_scale; BitLinear
(linear_class "bitlinear", or none: the default) divides it by
(input_scale * weight_scale), whatever the architecture. This script writes
one small checkpoint per published form, loads each with transformers exactly
as a user would (AutoModelForCausalLM.from_pretrained, float32, eager
attention), and records what transformers computes:

  bitnet-2b4t-autobitlinear  BitNetForCausalLM (microsoft/bitnet-b1.58-2B-4T's
                             form): autobitlinear, offline, ReLU^2, sub-norms,
                             GQA 4/2, tied head, bf16 weight_scale.
  bitnet-bitlinear           BitNetForCausalLM with linear_class "bitlinear"
                             (divides), MHA, tied head, F32 weight_scale; its
                             ffn_down rows are 192 long, so I2_S (K % 128) and
                             TQ1_0/TQ2_0 (K % 256) fall back for it;
                             its config.json is in the form transformers >= 5
                             saves (rope_parameters, no rope_theta), with
                             theta 50000 (neither BitNetConfig's default 500000
                             nor the 10000 of older readers).
  llama-bitlinear            LlamaForCausalLM + BitLinear (HF1BitLLM
                             Llama3-8B-1.58 / Falcon3-1.58bit's form): no
                             linear_class, untied lm_head, SiLU, GQA 4/2 (Q/K
                             permutation), and quantization_config written
                             twice as in Llama3-8B-1.58's config.json, the
                             first one saying "autobitlinear" (Python's json
                             keeps the last).

Every form hits a fallback for TQ1_0/TQ2_0 (rows of 128), the bitlinear one
for I2_S too. Sizes are kept small (hidden 128, 1-2 layers) and the
vocabulary is reduced: a byte-level BPE with the Llama-3 split pattern over
the few characters the prompts use (118 tokens, plus BOS and EOS), so the
committed files stay under 400 KiB. Embeddings and norms are bf16 (as
published) with no magnitude below 2^-10, so the F16 embedding that ternary
conversions write is exact too.

Per checkpoint folder: config.json, model.safetensors, tokenizer.json,
tokenizer_config.json, and
  reference.json  versions, prompts, transformers' token ids (with BOS),
                  greedy continuations (argmax of a full forward pass per
                  step), the smallest top-1/top-2 logit gap seen on the
                  greedy path, and where each prompt's logits start in
  logits.f32      float32 little-endian [sum of prompt lengths, n_vocab],
                  every position of every prompt.

Generated with torch 2.15.0 and transformers 5.25.0 (tokenizers 0.23.3,
safetensors 0.8.0, accelerate 1.16.0, which transformers' BitNet quantizer
requires; numpy 2.4.6), CPU, torch.compile disabled (TORCH_COMPILE_DISABLE=1:
the eager ops are transformers' definition; inductor would only reorder
float math).

Usage (offline; nothing is downloaded):
  HF_HUB_OFFLINE=1 TORCH_COMPILE_DISABLE=1 tools/gen-hf-packed-checkpoints.py \
      tests/loader/data/hf-packed
"""
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TORCH_COMPILE_DISABLE", "1")

import numpy as np
import safetensors.torch
import tokenizers
import torch
import transformers
from tokenizers import Regex, decoders, models, pre_tokenizers, processors, trainers
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.integrations.bitnet import pack_weights

LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| "
    r"?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
BOS, EOS = "<|begin_of_text|>", "<|end_of_text|>"
N_BPE = 118  # BPE vocabulary (alphabet + merges); BOS = 118, EOS = 119
N_VOCAB = N_BPE + 2
CORPUS = [
    "Once upon a time, there was a little girl named Lily.",
    "She liked to play in the park with her friends.",
    "The sun was bright and the sky was blue.",
    "One day, a big dog came to the park.",
    "Hello world! It's a test of the tokenizer.",
]
PROMPTS = [
    "Once upon a time",
    "The sky was blue, and the dog",
    "Hello world! It's a test.",
]
N_GREEDY = 6

FORMS = [
    dict(name="bitnet-2b4t-autobitlinear", arch="BitNetForCausalLM", model_type="bitnet",
         n_embd=128, n_ff=256, n_layer=2, n_head=4, n_head_kv=2, tied=True, act="relu2",
         quant=[{"quant_method": "bitnet", "linear_class": "autobitlinear",
                 "quantization_mode": "offline"}],
         scale_dtype=torch.bfloat16, scale_range=(0.06, 0.14), seed=1601),
    dict(name="bitnet-bitlinear", arch="BitNetForCausalLM", model_type="bitnet",
         n_embd=128, n_ff=192, n_layer=2, n_head=4, n_head_kv=4, tied=True, act="relu2",
         quant=[{"quant_method": "bitnet", "linear_class": "bitlinear"}],
         scale_dtype=torch.float32, scale_range=(7.0, 15.0), seed=1602,
         rope={"rope_parameters": {"rope_theta": 50000.0, "rope_type": "default"}}),
    dict(name="llama-bitlinear", arch="LlamaForCausalLM", model_type="llama",
         n_embd=128, n_ff=256, n_layer=1, n_head=4, n_head_kv=2, tied=False, act="silu",
         quant=[{"quant_method": "bitnet", "linear_class": "autobitlinear",
                 "quantization_mode": "offline"},
                {"modules_to_not_convert": None, "quant_method": "bitnet"}],
         scale_dtype=torch.bfloat16, scale_range=(7.0, 15.0), seed=1603),
]


def make_tokenizer(out_dir):
    chars = sorted(set("".join(CORPUS + PROMPTS)))
    tok = tokenizers.Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    # The alphabet: the byte-level symbols of the characters used (all ASCII).
    byte_map = pre_tokenizers.ByteLevel.alphabet()
    alphabet = sorted({pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
                       .pre_tokenize_str(c)[0][0] for c in chars})
    assert all(a in byte_map for a in alphabet)
    trainer = trainers.BpeTrainer(vocab_size=N_BPE, initial_alphabet=alphabet,
                                  limit_alphabet=len(alphabet), show_progress=False,
                                  special_tokens=[])
    tok.train_from_iterator(CORPUS * 4, trainer=trainer)
    assert tok.get_vocab_size() == N_BPE, tok.get_vocab_size()
    tok.add_special_tokens([BOS, EOS])
    assert tok.token_to_id(BOS) == N_BPE and tok.token_to_id(EOS) == N_BPE + 1
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, N_BPE)])
    tok.save(os.path.join(out_dir, "tokenizer.json"))
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": BOS,
                   "eos_token": EOS, "add_bos_token": True, "add_eos_token": False,
                   "model_max_length": 256}, f, indent=2)


def bf16_away_from_zero(x):
    """bf16 values with no magnitude below 2^-10: F16-exact (F16's normal
    range starts at 2^-14, and bf16's 8-bit significand fits F16's 11)."""
    x = torch.where(x.abs() < 2.0 ** -10, torch.sign(x + 1e-30) * 2.0 ** -10, x)
    return x.to(torch.bfloat16)


def ternary(gen, rows, cols):
    return torch.randint(-1, 2, (rows, cols), generator=gen, dtype=torch.int8)


def write_checkpoint(form, out_dir):
    gen = torch.Generator().manual_seed(form["seed"])
    E, F, H, HKV = form["n_embd"], form["n_ff"], form["n_head"], form["n_head_kv"]
    hd = E // H
    t = {}
    t["model.embed_tokens.weight"] = bf16_away_from_zero(torch.randn(N_VOCAB, E, generator=gen))
    if not form["tied"]:
        t["lm_head.weight"] = bf16_away_from_zero(torch.randn(N_VOCAB, E, generator=gen) * 0.5)
    t["model.norm.weight"] = bf16_away_from_zero(1 + 0.2 * torch.randn(E, generator=gen))
    lo, hi = form["scale_range"]
    projs = {"self_attn.q_proj": (H * hd, E), "self_attn.k_proj": (HKV * hd, E),
             "self_attn.v_proj": (HKV * hd, E), "self_attn.o_proj": (E, H * hd),
             "mlp.gate_proj": (F, E), "mlp.up_proj": (F, E), "mlp.down_proj": (E, F)}
    for il in range(form["n_layer"]):
        p = f"model.layers.{il}."
        norms = {"input_layernorm": E, "post_attention_layernorm": E}
        if form["arch"] == "BitNetForCausalLM":
            norms.update({"self_attn.attn_sub_norm": E, "mlp.ffn_sub_norm": F})
        for n, size in norms.items():
            t[p + n + ".weight"] = bf16_away_from_zero(1 + 0.2 * torch.randn(size, generator=gen))
        for n, (rows, cols) in projs.items():
            w = ternary(gen, rows, cols)
            t[p + n + ".weight"] = pack_weights(w.clone())
            # weight_scale is a [1] buffer in both layer classes.
            s = lo + (hi - lo) * torch.rand(1, generator=gen)
            t[p + n + ".weight_scale"] = s.to(form["scale_dtype"])
    safetensors.torch.save_file(t, os.path.join(out_dir, "model.safetensors"),
                                metadata={"format": "pt"})

    cfg = {"architectures": [form["arch"]], "model_type": form["model_type"],
           "vocab_size": N_VOCAB, "hidden_size": E, "intermediate_size": F,
           "num_hidden_layers": form["n_layer"], "num_attention_heads": H,
           "num_key_value_heads": HKV, "max_position_embeddings": 256,
           "rms_norm_eps": 1e-5, **form.get("rope", {"rope_theta": 500000.0}),
           "hidden_act": form["act"],
           "tie_word_embeddings": form["tied"], "bos_token_id": N_BPE,
           "eos_token_id": N_BPE + 1, "torch_dtype": "bfloat16",
           "attention_bias": False, "_name_or_path": "bitnet-tests/" + form["name"]}
    # json.dumps cannot repeat a key: splice the earlier quantization_configs
    # in as text (the published Llama3-8B-1.58 config.json repeats it).
    text = json.dumps({**cfg, "quantization_config": form["quant"][-1]}, indent=2)
    for q in form["quant"][:-1]:
        text = text.replace('\n  "vocab_size"',
                            '\n  "quantization_config": ' + json.dumps(q) + ',\n  "vocab_size"', 1)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        f.write(text + "\n")
    assert json.loads(text)["quantization_config"] == form["quant"][-1]


@torch.no_grad()
def reference(form, out_dir):
    tok = AutoTokenizer.from_pretrained(out_dir)
    model, info = AutoModelForCausalLM.from_pretrained(
        out_dir, dtype=torch.float32, attn_implementation="eager", output_loading_info=True)
    # transformers 5.25 leaves the non-quantized parameters (embedding,
    # norms, lm_head) in the checkpoint's bf16 despite dtype=float32 when a
    # quantizer is active; AutoBitLinear then fails on bf16 x f32. .float()
    # casts every float parameter and buffer (bf16 -> f32 is exact) and
    # leaves the uint8 packed weights alone (PreTrainedModel.float refuses
    # quantized models, so nn.Module's is called).
    model = torch.nn.Module.float(model).eval()
    for name, prm in list(model.named_parameters()) + list(model.named_buffers()):
        assert prm.dtype in (torch.float32, torch.uint8), (name, prm.dtype)
    for m in model.modules():
        assert getattr(m, "dtype", torch.float32) == torch.float32 or not isinstance(
            getattr(m, "dtype", None), torch.dtype), (type(m).__name__, m.dtype)
    bad = {k: v for k, v in info.items() if v}
    assert not bad, f"{form['name']}: loading problems {bad}"
    # The layer class transformers chose, for the record.
    classes = sorted({type(m).__name__ for m in model.modules() if "BitLinear" in type(m).__name__})
    prompts, rows, min_gap = [], [], float("inf")
    for text in PROMPTS:
        ids = tok(text)["input_ids"]
        assert ids[0] == N_BPE, "BOS first"
        logits = model(torch.tensor([ids])).logits[0].float()
        rows.append(logits.numpy())
        seq, greedy = list(ids), []
        for _ in range(N_GREEDY):
            last = model(torch.tensor([seq])).logits[0, -1].float()
            top = torch.topk(last, 2).values
            min_gap = min(min_gap, float(top[0] - top[1]))
            nxt = int(torch.argmax(last))
            greedy.append(nxt)
            seq.append(nxt)
        prompts.append({"text": text, "ids": ids, "greedy": greedy})
    all_logits = np.concatenate(rows).astype("<f4")
    all_logits.tofile(os.path.join(out_dir, "logits.f32"))
    spread = float(np.max(all_logits.max(axis=1) - all_logits.min(axis=1)))
    ref = {
        "form": form["name"],
        "generated_by": "tools/gen-hf-packed-checkpoints.py",
        "torch": torch.__version__, "transformers": transformers.__version__,
        "layer_class": classes,
        "n_vocab": N_VOCAB,
        "logits_file": "logits.f32",
        "max_logit_spread": spread,
        "min_greedy_top2_gap": min_gap,
        "prompts": prompts,
    }
    with open(os.path.join(out_dir, "reference.json"), "w") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")
    print(f"{form['name']}: {classes}, spread {spread:.3f}, min greedy gap {min_gap:.4f}, "
          f"tokens {[len(p['ids']) for p in prompts]}")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    root = sys.argv[1]
    torch.manual_seed(0)
    for form in FORMS:
        d = os.path.join(root, form["name"])
        os.makedirs(d, exist_ok=True)
        make_tokenizer(d)
        write_checkpoint(form, d)
        reference(form, d)


if __name__ == "__main__":
    main()
