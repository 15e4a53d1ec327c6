#!/usr/bin/env python3
"""Writes the .npy fixtures of the command-line tests (cli/src/test/resources/npy):
inputs, masks, and the outputs and weights NumPy computes in float64.
Run once with NumPy installed; the files are committed."""
import pathlib

import numpy as np

OUT = pathlib.Path(__file__).resolve().parent.parent / "cli/src/test/resources/npy"


def sdpa(q, k, v, keep=None, add=None, causal=False):
    """softmax(q.k^T / sqrt(Dk) + mask).v in float64; fully masked rows give 0."""
    q, k, v = (x.astype(np.float64) for x in (q, k, v))
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    allowed = np.ones(s.shape, dtype=bool)
    if keep is not None:
        allowed &= keep
    if add is not None:
        s = s + add
    if causal:
        lq, lk = s.shape[-2:]
        allowed &= np.tril(np.ones((lq, lk), dtype=bool))
    allowed &= s != -np.inf
    s = np.where(allowed, s, -np.inf)
    m = np.max(s, axis=-1, keepdims=True)
    e = np.where(allowed, np.exp(s - np.where(np.isfinite(m), m, 0)), 0)
    total = e.sum(axis=-1, keepdims=True)
    w = np.divide(e, total, out=np.zeros_like(e), where=total > 0)
    return w @ v.astype(np.float64), w


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2024)
    f32 = lambda *shape: rng.uniform(-1, 1, shape).astype(np.float32)

    # Rank 4, GQA (4 query heads over 2 kv heads), bool mask, Lq != Lk, Dk != Dv.
    q, k, v = f32(2, 4, 5, 8), f32(2, 2, 7, 8), f32(2, 2, 7, 6)
    keep = rng.uniform(size=(5, 7)) < 0.7
    keep[3, :] = False  # one fully masked row
    kr = np.repeat(k, 2, axis=1)
    vr = np.repeat(v, 2, axis=1)
    out, w = sdpa(q, kr, vr, keep=keep)
    for name, a in dict(q4=q, k4=k, v4=v, keep=keep, out4=out.astype(np.float32),
                        weights4=w.astype(np.float32)).items():
        np.save(OUT / f"{name}.npy", a)

    # Rank 3, causal, additive float mask.
    q, k, v = f32(3, 9, 4), f32(3, 9, 4), f32(3, 9, 5)
    add = f32(9, 9)
    out, _ = sdpa(q, k, v, add=add, causal=True)
    for name, a in dict(q3=q, k3=k, v3=v, add=add, out3=out.astype(np.float32)).items():
        np.save(OUT / f"{name}.npy", a)

    np.save(OUT / "f64.npy", np.ones((2, 3, 4), dtype=np.float64))  # a dtype `run` refuses

    # Rank 4 in float16 ('<f2'), GQA, causal bottom-right: NumPy rounds the float32 draws, and the
    # float64 reference computes on the rounded values.
    q, k, v = (x.astype(np.float16) for x in (f32(1, 4, 3, 12), f32(1, 2, 10, 12), f32(1, 2, 10, 7)))
    lq, lk = 3, 10
    keep = np.tril(np.ones((lq, lk), dtype=bool), k=lk - lq)
    out, _ = sdpa(q, np.repeat(k, 2, axis=1), np.repeat(v, 2, axis=1), keep=keep)
    for name, a in dict(q16=q, k16=k, v16=v, out16=out.astype(np.float32)).items():
        np.save(OUT / f"{name}.npy", a)


if __name__ == "__main__":
    main()
