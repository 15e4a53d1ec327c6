#!/usr/bin/env python3
"""Writes the fixtures that test panattn against PyTorch: MultiHeadAttention
against nn.MultiheadAttention (cli/src/test/resources/mha/<case>/*.npy: self
and cross attention, add_bias_kv, add_zero_attn, both, and the packed
projection qkv = x·in_proj_weightᵀ + in_proj_bias) and
EncoderDecoderAttention against the seq2seq tutorial's Attn module
(cli/src/test/resources/attn/*.npy): inputs, weights in PyTorch's names, masks
in both polarities, outputs and attention weights. Needs PyTorch (Debian:
apt-get install python3-torch); run it once and commit the files.

PyTorch's boolean masks mean True = do NOT attend; panattn's mean True =
attend, so each boolean mask is saved as keep_* = ~mask as well."""
import pathlib

import numpy as np
import torch

RESOURCES = pathlib.Path(__file__).resolve().parent.parent / "cli/src/test/resources"


def save(case, **arrays):
    folder = RESOURCES / case
    folder.mkdir(parents=True, exist_ok=True)
    for name, a in arrays.items():
        a = a.detach().numpy() if isinstance(a, torch.Tensor) else a
        np.save(folder / f"{name}.npy", a.astype(np.bool_ if a.dtype == np.bool_ else np.float32))


def weights_of(mha):
    sd = {k: v for k, v in mha.state_dict().items()}
    return {k.replace(".", "_"): v for k, v in sd.items()}


def packed_qkv(mha, x):
    """The self-attention in-projection of x, q | k | v side by side: what a packed QKV input holds."""
    return torch.nn.functional.linear(x, mha.in_proj_weight, mha.in_proj_bias)


def causal_mask(lq, lk, bottom_right=False, window=0):
    """PyTorch's boolean causal attn_mask, True = masked, as panattn's causal rule and window define it."""
    i = torch.arange(lq).unsqueeze(1) + (lk - lq if bottom_right else 0)
    j = torch.arange(lk).unsqueeze(0)
    masked = j > i
    if window:
        masked |= i - j >= window
    return masked


def randomize_biases(mha):
    with torch.no_grad():  # nonzero biases, so they are tested too
        if mha.in_proj_bias is not None:
            mha.in_proj_bias.uniform_(-0.5, 0.5)
            mha.out_proj.bias.uniform_(-0.5, 0.5)


def self_attention():
    torch.manual_seed(1)
    E, H, B, L = 16, 4, 2, 5
    mha = torch.nn.MultiheadAttention(E, H, batch_first=True)
    with torch.no_grad():  # nonzero biases, so they are tested too
        mha.in_proj_bias.uniform_(-0.5, 0.5)
        mha.out_proj.bias.uniform_(-0.5, 0.5)
    mha.eval()
    x = torch.rand(B, L, E) * 2 - 1
    causal = torch.triu(torch.ones(L, L, dtype=torch.bool), diagonal=1)  # True = masked
    padding = torch.tensor([[False] * L, [False] * 3 + [True] * 2])       # batch 1: 3 valid keys
    out, avg = mha(x, x, x, attn_mask=causal, key_padding_mask=padding, need_weights=True)
    _, per_head = mha(x, x, x, attn_mask=causal, key_padding_mask=padding, need_weights=True,
                      average_attn_weights=False)
    save("mha/self", x=x, keep_attn_mask=~causal.numpy(), keep_key_padding_mask=~padding.numpy(),
         out=out, weights_avg=avg, weights_per_head=per_head, qkv=packed_qkv(mha, x), **weights_of(mha))


def bias_kv():
    """add_bias_kv in self-attention, (B, L, E): causal and windowed masks, key padding."""
    torch.manual_seed(4)
    E, H, B, L = 16, 4, 2, 6
    mha = torch.nn.MultiheadAttention(E, H, add_bias_kv=True, batch_first=True)
    randomize_biases(mha)
    mha.eval()
    x = torch.rand(B, L, E) * 2 - 1
    causal = causal_mask(L, L)
    padding = torch.tensor([[False] * L, [False] * 4 + [True] * 2])
    out, avg = mha(x, x, x, attn_mask=causal, key_padding_mask=padding)
    _, per_head = mha(x, x, x, attn_mask=causal, key_padding_mask=padding, average_attn_weights=False)
    out_window, _ = mha(x, x, x, attn_mask=causal_mask(L, L, window=3), key_padding_mask=padding)
    save("mha/bias_kv", x=x, keep_key_padding_mask=~padding.numpy(), out=out, weights_avg=avg,
         weights_per_head=per_head, out_window3=out_window, qkv=packed_qkv(mha, x), **weights_of(mha))


def zero_attn():
    """add_zero_attn in cross-attention, (L, B, E), kdim/vdim: a float (B*H, Lq, Lk) attn_mask beside
    bottom-right causal, and key padding."""
    torch.manual_seed(5)
    E, H, B, Lq, Lk, kdim, vdim = 16, 2, 2, 3, 7, 12, 10
    mha = torch.nn.MultiheadAttention(E, H, kdim=kdim, vdim=vdim, add_zero_attn=True)
    randomize_biases(mha)
    mha.eval()
    q = torch.rand(Lq, B, E) * 2 - 1
    k = torch.rand(Lk, B, kdim) * 2 - 1
    v = torch.rand(Lk, B, vdim) * 2 - 1
    attn_mask = torch.rand(B * H, Lq, Lk) - 0.5
    padding = torch.tensor([[False] * Lk, [False] * 4 + [True] * 3])
    causal = attn_mask.masked_fill(causal_mask(Lq, Lk, bottom_right=True), float("-inf"))
    out, avg = mha(q, k, v, attn_mask=causal, key_padding_mask=padding)
    save("mha/zero_attn", query=q, key=k, value=v, attn_mask=attn_mask, keep_key_padding_mask=~padding.numpy(),
         out=out, weights_avg=avg, **weights_of(mha))


def bias_kv_and_zero_attn():
    """Both, without biases, in self-attention, (L, B, E): a boolean (B*H, L, L) attn_mask, and key padding
    that hides every key of batch 1, so only the appended keys remain."""
    torch.manual_seed(6)
    E, H, B, L = 12, 3, 2, 5
    mha = torch.nn.MultiheadAttention(E, H, bias=False, add_bias_kv=True, add_zero_attn=True)
    mha.eval()
    x = torch.rand(L, B, E) * 2 - 1
    attn_mask = torch.rand(B * H, L, L) < 0.3  # True = masked
    padding = torch.tensor([[False] * 3 + [True] * 2, [True] * L])
    out, _ = mha(x, x, x, attn_mask=attn_mask, key_padding_mask=padding)
    _, per_head = mha(x, x, x, attn_mask=attn_mask, key_padding_mask=padding, average_attn_weights=False)
    save("mha/both", x=x, keep_attn_mask=~attn_mask.numpy(), keep_key_padding_mask=~padding.numpy(), out=out,
         weights_per_head=per_head, qkv=packed_qkv(mha, x), **weights_of(mha))


def cross_attention():
    torch.manual_seed(2)
    E, H, B, Lq, Lk, kdim, vdim = 16, 2, 2, 3, 7, 12, 10
    mha = torch.nn.MultiheadAttention(E, H, kdim=kdim, vdim=vdim)  # (L, B, E) inputs
    with torch.no_grad():
        mha.in_proj_bias.uniform_(-0.5, 0.5)
        mha.out_proj.bias.uniform_(-0.5, 0.5)
    mha.eval()
    q = torch.rand(Lq, B, E) * 2 - 1
    k = torch.rand(Lk, B, kdim) * 2 - 1
    v = torch.rand(Lk, B, vdim) * 2 - 1
    attn_mask = torch.rand(Lq, Lk) - 0.5  # float: added to the scores
    out, avg = mha(q, k, v, attn_mask=attn_mask, need_weights=True)
    save("mha/cross", query=q, key=k, value=v, attn_mask=attn_mask, out=out, weights_avg=avg,
         **weights_of(mha))


class Attn(torch.nn.Module):
    """The seq2seq tutorial's attention step, as the seeds write it."""

    def __init__(self, query_size, key_size, value_size1, value_size2, output_size):
        super().__init__()
        self.attn = torch.nn.Linear(query_size + key_size, value_size1)
        self.attn_combine = torch.nn.Linear(query_size + value_size2, output_size)

    def forward(self, Q, K, V):
        attn_weights = torch.softmax(self.attn(torch.cat((Q[0], K[0]), 1)), dim=1)
        attn_applied = torch.bmm(attn_weights.unsqueeze(0), V)
        output = torch.cat((Q[0], attn_applied[0]), 1)
        output = self.attn_combine(output).unsqueeze(0)
        return output, attn_weights


def encoder_decoder_step():
    torch.manual_seed(3)
    attn = Attn(32, 32, 32, 64, 64)  # the seeds' sizes
    attn.eval()
    Q, K, V = torch.randn(1, 1, 32), torch.randn(1, 1, 32), torch.randn(1, 32, 64)
    output, weights = attn(Q, K, V)
    save("attn", Q=Q, K=K, V=V, output=output, weights=weights, **weights_of(attn))


if __name__ == "__main__":
    self_attention()
    cross_attention()
    bias_kv()
    zero_attn()
    bias_kv_and_zero_attn()
    encoder_decoder_step()
