"""The layers written once in nn/ against torch.nn: multi-head attention, the encoder and decoder
layers (post-LN and pre-LN), positions, and the decoding algorithms."""

import math

import pytest
import torch
from torch import nn

from milestones.nn.attention import KVCache, MultiHeadAttention
from milestones.nn.blocks import DecoderLayer, EncoderLayer
from milestones.nn.decoding import beam_search, greedy, length_penalty
from milestones.nn.positions import LearnedPositions, SinusoidalPositions

D, H = 32, 4


def _copy_attention(ours: MultiHeadAttention, ref: nn.MultiheadAttention) -> None:
    with torch.no_grad():
        ours.in_proj.weight.copy_(ref.in_proj_weight)
        ours.in_proj.bias.copy_(ref.in_proj_bias)
        ours.out_proj.weight.copy_(ref.out_proj.weight)
        ours.out_proj.bias.copy_(ref.out_proj.bias)


def _pad_mask(lengths, width):
    return torch.arange(width)[None, :] >= torch.tensor(lengths)[:, None]  # True at padding



def test_attention_equals_torch_multihead_attention():
    torch.manual_seed(0)
    ref = nn.MultiheadAttention(D, H, batch_first=True).eval()
    ours = MultiHeadAttention(D, H).eval()
    _copy_attention(ours, ref)
    x, mem = torch.randn(3, 7, D), torch.randn(3, 5, D)
    pad = _pad_mask([5, 3, 1], 5)
    # self-attention with padding
    xpad = _pad_mask([7, 4, 2], 7)
    want, want_w = ref(x, x, x, key_padding_mask=xpad)
    got, got_w = ours(x, pad_mask=xpad, need_weights=True)
    assert torch.allclose(got, want, atol=1e-5) and torch.allclose(got_w.mean(1), want_w, atol=1e-5)
    assert torch.allclose(ours(x, pad_mask=xpad)[0], want, atol=1e-5)  # the fused (SDPA) path
    # cross-attention with padded memory
    want, _ = ref(x, mem, mem, key_padding_mask=pad)
    assert torch.allclose(ours(x, mem, pad_mask=pad)[0], want, atol=1e-5)
    # causal self-attention
    causal = nn.Transformer.generate_square_subsequent_mask(7)
    want, _ = ref(x, x, x, attn_mask=causal)
    assert torch.allclose(ours(x, causal=True)[0], want, atol=1e-5)
    assert torch.allclose(ours(x, causal=True, need_weights=True)[0], want, atol=1e-5)


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_equals_torch(norm_first):
    torch.manual_seed(1)
    ref = nn.TransformerEncoderLayer(D, H, 64, dropout=0.1, batch_first=True, norm_first=norm_first).eval()
    ours = EncoderLayer(D, H, 64, dropout=0.1, norm_first=norm_first).eval()
    sd = {k.replace("self_attn.in_proj_weight", "self_attn.in_proj.weight")
          .replace("self_attn.in_proj_bias", "self_attn.in_proj.bias"): v for k, v in ref.state_dict().items()}
    ours.load_state_dict(sd)
    x = torch.randn(3, 6, D)
    pad = _pad_mask([6, 4, 2], 6)
    with torch.no_grad():
        want = ref(x, src_key_padding_mask=pad)
        got = ours(x, pad_mask=pad)
    keep = ~pad  # torch's fast path may zero padded positions; only real tokens are compared
    assert torch.allclose(got[keep], want[keep], atol=1e-5)


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_equals_torch(norm_first):
    torch.manual_seed(2)
    ref = nn.TransformerDecoderLayer(D, H, 64, dropout=0.1, batch_first=True, norm_first=norm_first).eval()
    ours = DecoderLayer(D, H, 64, dropout=0.1, norm_first=norm_first).eval()
    sd = {}
    for k, v in ref.state_dict().items():
        for part in ("self_attn", "multihead_attn"):
            k = k.replace(f"{part}.in_proj_weight", f"{part}.in_proj.weight").replace(
                f"{part}.in_proj_bias", f"{part}.in_proj.bias")
        sd[k] = v
    ours.load_state_dict(sd)
    y, mem = torch.randn(3, 6, D), torch.randn(3, 5, D)
    mpad = _pad_mask([5, 2, 3], 5)
    with torch.no_grad():
        want = ref(y, mem, tgt_mask=nn.Transformer.generate_square_subsequent_mask(6), tgt_is_causal=True,
                   memory_key_padding_mask=mpad)
        got = ours(y, mem, memory_pad_mask=mpad)
    assert torch.allclose(got, want, atol=1e-5)


def test_positions():
    pe = SinusoidalPositions(8, max_len=4)
    x = torch.zeros(1, 6, 8)
    out = pe(x)  # longer than the table: extended
    assert torch.allclose(out[0, 5, 0], torch.tensor(math.sin(5.0)))
    assert torch.allclose(out[0, 3, 3], torch.tensor(math.cos(3 / 10000 ** (2 / 8))))
    assert torch.allclose(pe(torch.zeros(1, 2, 8), offset=4), out[:, 4:6])
    with pytest.raises(ValueError, match="longer than the 4 learned positions"):
        LearnedPositions(8, 4)(torch.zeros(1, 5, 8))



# -- decoding -----------------------------------------------------------------------------------


def _toy_step(tokens, state):
    """BOS -> a 0.6, b 0.4; a -> a, b, EOS a third each; b -> EOS. Greedy says "a ..." (best 0.2);
    the most likely sentence is "b EOS" (0.4)."""
    v = 5  # PAD BOS EOS a b
    p = torch.full((len(tokens), v), 1e-9)
    for i, t in enumerate(tokens.tolist()):
        if t == 1:
            p[i, 3], p[i, 4] = 0.6, 0.4
        elif t == 3:
            p[i, 2] = p[i, 3] = p[i, 4] = 1 / 3
        else:
            p[i, 2] = 1.0
    return p.log(), state


def test_beam_search_finds_what_greedy_misses():
    g = greedy(_toy_step, None, 1, 6, bos=1, eos=2)
    b = beam_search(_toy_step, lambda s, i: s, None, 1, 2, 6, bos=1, eos=2, alpha=0.0)
    assert g[0, 0] == 3
    assert b[0, :2].tolist() == [4, 2]
    b1 = beam_search(_toy_step, lambda s, i: s, None, 1, 1, 6, bos=1, eos=2, alpha=0.0)
    assert b1[0].tolist()[:len(g[0])] == g[0].tolist()  # beam 1 is greedy
    assert torch.allclose(length_penalty(torch.tensor([1, 7]), 0.6), torch.tensor([1.0, 2.0 ** 0.6]))


def test_a_kv_cache_with_capacity_equals_one_that_grows():
    torch.manual_seed(0)
    grown, buffered = KVCache(), KVCache(capacity=6)
    for t in (3, 1, 1):
        k, v = torch.randn(2, 4, t, 8), torch.randn(2, 4, t, 8)
        a, b = grown.append(k, v), buffered.append(k, v)
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    index = torch.tensor([1, 1])
    grown.reorder(index)
    buffered.reorder(index)
    k, v = torch.randn(2, 4, 1, 8), torch.randn(2, 4, 1, 8)
    a, b = grown.append(k, v), buffered.append(k, v)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and len(buffered) == 6
    k, v = torch.randn(2, 4, 1, 8), torch.randn(2, 4, 1, 8)  # beyond the capacity: grows by concatenation
    assert torch.equal(grown.append(k, v)[0], buffered.append(k, v)[0])
