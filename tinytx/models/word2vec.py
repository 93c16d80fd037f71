"""word2vec (Mikolov et al., 2013): skip-gram or CBOW, trained with negative sampling.

Two tables: `inp` (the word vectors one keeps) and `out` (output vectors). A training example is an input `h` and
a word to predict `t` with K noise words n_k: skip-gram's input is one word of the window (`inp[word]`), predicting
the window's center; CBOW's input is the mean of the window's `inp` vectors, predicting the center. The scores are
s = h·out[t] and s_k = h·out[n_k]; the loss (Word2VecTask, tinytx.recipes.word2vec) is -log σ(s) - Σ_k log σ(-s_k).

The scoring is one autograd function that gathers the rows it needs once and hands back gradients only for those
rows (sparse gradients by default, so an SGD step touches the batch's rows, not the V x d tables). Noise words may
be shared by a group of G consecutive examples (`negatives` of shape (B/G, K)): the group's scores are then one
small matrix product instead of K dot products per example, and the noise rows are gathered and updated once per
group (the batching of Ji et al. 2016 and BlazingText, Gupta & Khare 2017). G = 1 is word2vec's own sampling.
CBOW hands each window word the whole gradient of the mean, as word2vec and gensim do (not 1/window of it).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .registry import register


@dataclass
class Word2VecConfig:
    vocab_size: int
    n_embd: int = 100
    mode: str = "skipgram"  # skipgram | cbow
    sparse: bool = True  # sparse gradients (for plain SGD); False gives dense ones any optimizer takes

    def __post_init__(self):
        if self.mode not in ("skipgram", "cbow"):
            raise ValueError(f"word2vec mode must be skipgram or cbow, got {self.mode!r}")


def _rows_grad(ids: torch.Tensor, values: torch.Tensor, shape: torch.Size, sparse: bool) -> torch.Tensor:
    """The gradient of a table whose rows `ids` (repeats allowed) received `values`."""
    if sparse:
        return torch.sparse_coo_tensor(ids.unsqueeze(0), values, shape, check_invariants=False)
    return torch.zeros(shape, dtype=values.dtype, device=values.device).index_add_(0, ids, values)


class _Scores(torch.autograd.Function):
    """(B, 1+K) scores: column 0 the word to predict, columns 1..K the noise words."""

    @staticmethod
    def forward(ctx, inp_w, out_w, inputs, targets, negatives, sparse):
        B, d = len(targets), inp_w.shape[1]
        n, K = negatives.shape
        if inputs.dim() == 2:  # cbow: the mean of the window's vectors (id 0 = padding, left out)
            slots = (inputs.reshape(-1) != 0).nonzero().squeeze(1)
            words, example = inputs.reshape(-1)[slots], slots.div(inputs.shape[1], rounding_mode="floor")
            counts = torch.bincount(example, minlength=B)
            offsets = counts.cumsum(0).sub_(counts)
            h = F.embedding_bag(words, inp_w, offsets, mode="mean")  # one pass, no padding rows
            inputs = (words, example)
        else:
            h = inp_w.index_select(0, inputs)
        ids = torch.cat([targets, negatives.reshape(-1)])
        o = out_w.index_select(0, ids)  # the targets' rows, then the noise rows: one gather
        pos, neg = o[:B], o[B:].view(n, K, d)
        scores = torch.empty(B, 1 + K, dtype=h.dtype, device=h.device)
        scores[:, 0] = torch.linalg.vecdot(h, pos)
        if n == B:  # every example its own noise words
            scores[:, 1:] = torch.linalg.vecdot(neg, h.unsqueeze(1))
        else:  # groups of G examples share theirs: one (G x d) @ (d x K) product per group
            scores[:, 1:] = torch.bmm(h.view(n, B // n, d), neg.transpose(1, 2)).view(B, K)
        ctx.save_for_backward(h, o, ids, *((inputs,) if torch.is_tensor(inputs) else inputs))
        ctx.sparse, ctx.shapes = sparse, (inp_w.shape, out_w.shape)
        return scores

    @staticmethod
    def backward(ctx, grad):
        h, o, ids, *inputs = ctx.saved_tensors
        B, d = h.shape
        K = grad.shape[1] - 1
        n = (len(ids) - B) // K
        pos, neg = o[:B], o[B:].view(n, K, d)
        gp, gn = grad[:, :1], grad[:, 1:]
        g_out = torch.empty_like(o)  # the targets' rows, then the noise rows, as in forward
        torch.mul(gp, h, out=g_out[:B])
        if n == B:  # every example its own noise words
            g_h = (gn.unsqueeze(2) * neg).sum(1)
            torch.mul(gn.unsqueeze(2), h.unsqueeze(1), out=g_out[B:].view(n, K, d))
        else:  # a group's noise rows: one (K x G) @ (G x d) product; the group's h: (G x K) @ (K x d)
            gn = gn.reshape(n, B // n, K)
            g_h = torch.bmm(gn, neg).view(B, d)
            torch.bmm(gn.transpose(1, 2), h.view(n, B // n, d), out=g_out[B:].view(n, K, d))
        g_h.addcmul_(gp, pos)
        if len(inputs) == 2:  # cbow: every window word gets the whole gradient (word2vec's rule), padding none
            words, example = inputs
            g_h = g_h.index_select(0, example)
        else:
            words = inputs[0]
        inp_shape, out_shape = ctx.shapes
        return (_rows_grad(words, g_h, inp_shape, ctx.sparse),
                _rows_grad(ids, g_out, out_shape, ctx.sparse), None, None, None, None)


@register("word2vec")
class Word2Vec(nn.Module):
    config_class = Word2VecConfig

    def __init__(self, config: Word2VecConfig):
        super().__init__()
        self.config = config
        # sparse=: the gradients the scoring function hands back (DDP reads the flag to reduce them as sparse)
        self.inp = nn.Embedding(config.vocab_size, config.n_embd, sparse=config.sparse)
        self.out = nn.Embedding(config.vocab_size, config.n_embd, sparse=config.sparse)
        # the reference initialisation: small uniform input vectors, zero output vectors
        nn.init.uniform_(self.inp.weight, -0.5 / config.n_embd, 0.5 / config.n_embd)
        nn.init.zeros_(self.out.weight)

    def forward(self, inputs, targets, negatives):
        """Scores (B, 1+K): column 0 for `targets`, columns 1..K for the noise words.

        skipgram: inputs (B,) one word of each target's window.
        cbow:     inputs (B, W) the target's window (0 = padding).
        negatives: (B, K) noise words per example, or (B/G, K) shared by each group of G consecutive examples."""
        if len(targets) % len(negatives):
            raise ValueError(f"{len(targets)} examples do not split into {len(negatives)} groups of noise words")
        return _Scores.apply(self.inp.weight, self.out.weight, inputs, targets, negatives, self.config.sparse)

    @property
    def vectors(self) -> torch.Tensor:
        return self.inp.weight
