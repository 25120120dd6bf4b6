"""The book's BERT: a character-level Transformer encoder pretrained as a masked language model,
and the UniLM attention mask that turns the same encoder into a seq2seq model.

The architecture is BERT's own (Devlin et al., 2019): token, position and segment embeddings
summed and layer-normalised; blocks of multi-head self-attention and a GELU feed-forward layer,
each followed by dropout, a residual connection and layer normalisation; and an MLM head (dense,
GELU, layer norm, then the output layer tied to the token embeddings). It is built to BERT's
layout so that a Hugging Face ``BertForMaskedLM`` state dict loads into it exactly
(:func:`load_hf_state_dict`): a reader with a pretrained Chinese checkpoint can use it in place of
the book's small one.

**Masked language modelling.** :func:`mask_tokens` picks each maskable position with probability
``rate`` (15%) and replaces 80% of the picked characters by ``[MASK]``, 10% by a random character
and leaves 10% unchanged; the model is trained to predict the original character at the picked
positions only.

**Conditional layer normalisation** (post 7124). A model built with ``conditions=K`` embeds a
label ``y`` (a sentiment, say) as a vector ``c`` and adds linear functions of it to the gain and
bias of every layer normalisation of the encoder, ``LN(x) ⊙ (γ + W_γ c) + (β + W_β c)``. The
matrices ``W`` start at zero, so a conditioned copy of a pretrained model
(:func:`conditioned_copy`) computes exactly what the pretrained model computes until training
moves them.

**UniLM** (Dong et al., 2019). Give the source characters segment 0 and the target characters
segment 1. With ``c`` the running sum of the segment ids, position ``i`` may attend to position
``j`` exactly when ``c_j <= c_i``: every position sees all source positions, source positions see
no target, and a target position sees the targets up to itself (:func:`unilm_mask`). Trained to
predict each target character from the position before it, the bidirectional encoder becomes a
left-to-right decoder conditioned on the whole source.

Serves chapters/part6-sequences/bert-segmentation.ipynb.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from ..checks import fraction, positive_int

__all__ = ["CharBert", "ConditionalLayerNorm", "conditioned_copy", "unilm_mask", "attention_mask", "mask_tokens", "mlm_loss",
           "perplexity", "save", "load", "load_hf_state_dict", "CheckpointMismatch", "FORMAT"]

#: The checkpoint format :func:`save` writes and :func:`load` reads.
FORMAT = "kexue-char-bert-1"


class CheckpointMismatch(ValueError):
    """A checkpoint whose configuration or vocabulary is not the one asked for."""


def unilm_mask(segments: torch.Tensor) -> torch.Tensor:
    """``[B, T, T]`` bool, True where query ``i`` may attend to key ``j``: ``c_j <= c_i`` for the
    running sums ``c`` of the 0/1 ``segments`` ``[B, T]`` (source 0, target 1)."""
    if segments.ndim != 2 or not bool(((segments == 0) | (segments == 1)).all()):
        raise ValueError("segments must be [B, T] of 0 (source) and 1 (target)")
    c = segments.long().cumsum(1)
    return c[:, None, :] <= c[:, :, None]


def attention_mask(tokens: torch.Tensor, pad_id: int, segments: torch.Tensor | None = None,
                   kind: str = "bidirectional") -> torch.Tensor:
    """``[B, 1, T, T]`` bool for ``scaled_dot_product_attention``: no query attends to padding;
    ``kind="unilm"`` adds :func:`unilm_mask`. A padding query attends to itself alone (its row
    must not be empty; its output is never used)."""
    if kind not in ("bidirectional", "unilm"):
        raise ValueError(f"kind must be 'bidirectional' or 'unilm', got {kind!r}")
    keys = (tokens != pad_id)[:, None, :].expand(-1, tokens.shape[1], -1)
    if kind == "unilm":
        if segments is None or segments.shape != tokens.shape:
            raise ValueError("a UniLM mask needs segments of the tokens' shape")
        keys = keys & unilm_mask(segments)
    eye = torch.eye(tokens.shape[1], dtype=torch.bool, device=tokens.device)
    return (keys | (eye & (tokens == pad_id)[:, :, None]))[:, None]


class ConditionalLayerNorm(nn.LayerNorm):
    """``nn.LayerNorm`` (the same ``weight`` and ``bias``), plus, where built with a
    ``condition_dim``, ``LN₀(x) ⊙ (c W_γ) + c W_β`` for a condition vector ``c`` per example
    (``LN₀``: normalised, without gain or bias), the two matrices zero at the start. Without a
    condition it is exactly ``nn.LayerNorm``."""

    def __init__(self, dim: int, condition_dim: int | None = None, eps: float = 1e-12):
        super().__init__(dim, eps=eps)
        self.to_gain = self.to_shift = None
        if condition_dim:
            self.to_gain = nn.Linear(condition_dim, dim, bias=False)
            self.to_shift = nn.Linear(condition_dim, dim, bias=False)
            self.reset_condition()

    def reset_condition(self) -> None:
        """Zero the condition's matrices: the layer computes its unconditioned output."""
        if self.to_gain is not None:
            nn.init.zeros_(self.to_gain.weight)
            nn.init.zeros_(self.to_shift.weight)

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        y = super().forward(x)
        if condition is None:
            return y
        if self.to_gain is None:
            raise ValueError("this layer norm was built without a condition")
        normalised = F.layer_norm(x, self.normalized_shape, eps=self.eps)
        return y + normalised * self.to_gain(condition)[:, None] + self.to_shift(condition)[:, None]


class _Block(nn.Module):
    """BERT's post-norm block: attention, add, norm; feed-forward, add, norm."""

    def __init__(self, dim: int, heads: int, hidden: int, dropout: float,
                 condition_dim: int | None = None):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.query, self.key, self.value = (nn.Linear(dim, dim) for _ in range(3))
        self.attention_output = nn.Linear(dim, dim)
        self.attention_norm = ConditionalLayerNorm(dim, condition_dim)
        self.intermediate, self.output = nn.Linear(dim, hidden), nn.Linear(hidden, dim)
        self.output_norm = ConditionalLayerNorm(dim, condition_dim)

    def forward(self, h: torch.Tensor, mask: torch.Tensor,
                condition: torch.Tensor | None = None) -> torch.Tensor:
        B, T, D = h.shape
        split = lambda t: t.view(B, T, self.heads, D // self.heads).transpose(1, 2)
        q, k, v = split(self.query(h)), split(self.key(h)), split(self.value(h))
        p = self.dropout if self.training else 0.0
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        a = self.attention_output(a.transpose(1, 2).reshape(B, T, D))
        h = self.attention_norm(h + F.dropout(a, p, self.training), condition)
        f = self.output(F.gelu(self.intermediate(h)))
        return self.output_norm(h + F.dropout(f, p, self.training), condition)


class CharBert(nn.Module):
    """A BERT over ``vocab_size`` character ids (the ``[MASK]`` id among them) of at most
    ``max_length`` positions. ``forward`` gives the hidden states ``[B, T, dim]``;
    :meth:`mlm_logits` maps them to logits over the vocabulary."""

    def __init__(self, vocab_size: int, *, dim: int = 256, heads: int = 4, layers: int = 4,
                 hidden: int | None = None, max_length: int = 128, dropout: float = 0.1,
                 pad_id: int = 0, mask_id: int | None = None, conditions: int | None = None,
                 condition_dim: int | None = None):
        super().__init__()
        if positive_int(dim, "dim") % positive_int(heads, "heads"):
            raise ValueError(f"dim {dim} is not a multiple of heads {heads}")
        self.config = dict(vocab_size=positive_int(vocab_size, "vocab_size"), dim=dim, heads=heads,
                           layers=positive_int(layers, "layers"), hidden=hidden or 4 * dim,
                           max_length=positive_int(max_length, "max_length"),
                           dropout=float(dropout), pad_id=int(pad_id),
                           mask_id=vocab_size - 1 if mask_id is None else int(mask_id))
        condition_dim = None
        if conditions is not None:  # only then in the configuration: unconditioned ones unchanged
            condition_dim = positive_int(condition_dim or dim, "condition_dim")
            self.config.update(conditions=positive_int(conditions, "conditions"),
                               condition_dim=condition_dim)
            self.condition_embedding = nn.Embedding(conditions, condition_dim)
        self.pad_id, self.mask_id, self.max_length = pad_id, self.config["mask_id"], max_length
        self.tokens = nn.Embedding(vocab_size, dim)
        self.positions = nn.Embedding(max_length, dim)
        self.segments = nn.Embedding(2, dim)
        self.embedding_norm = ConditionalLayerNorm(dim, condition_dim)
        self.dropout = dropout
        self.blocks = nn.ModuleList(_Block(dim, heads, self.config["hidden"], dropout, condition_dim)
                                    for _ in range(layers))
        self.head_dense, self.head_norm = nn.Linear(dim, dim), nn.LayerNorm(dim, eps=1e-12)
        self.head_bias = nn.Parameter(torch.zeros(vocab_size))
        self.apply(self._init)
        if conditions is not None:  # unit-scale label vectors: the zero matrices learn at once
            nn.init.normal_(self.condition_embedding.weight)
        for module in self.modules():
            if isinstance(module, ConditionalLayerNorm):
                module.reset_condition()

    @staticmethod
    def _init(module):
        """BERT's initialisation: normal(0, 0.02) weights, zero biases, unit layer norms."""
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, tokens: torch.Tensor, segments: torch.Tensor | None = None,
                kind: str = "bidirectional", condition: torch.Tensor | None = None) -> torch.Tensor:
        """Hidden states ``[B, T, dim]``; ``condition`` (``[B]`` labels) only for a conditioned
        model."""
        if tokens.ndim != 2 or tokens.dtype not in (torch.int32, torch.int64):
            raise ValueError(f"tokens must be [B, T] integer ids, got {tokens.dtype} "
                             f"{tuple(tokens.shape)}")
        if tokens.shape[1] > self.max_length:
            raise ValueError(f"a sequence of {tokens.shape[1]} positions is longer than the "
                             f"model's limit of {self.max_length}")
        segments = torch.zeros_like(tokens) if segments is None else segments
        bad_segments = "segments must be [B, T] of 0 (source) and 1 (target), like tokens"
        if segments.shape != tokens.shape:
            raise ValueError(bad_segments)
        bad_ids, bad_labels = torch.stack([  # both checks in one read back from the device
            ((tokens < 0) | (tokens >= self.config["vocab_size"])).any(),
            ((segments != 0) & (segments != 1)).any()]).tolist()
        if bad_ids:
            raise ValueError(f"token ids must lie in [0, {self.config['vocab_size']})")
        if bad_labels:
            raise ValueError(bad_segments)
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        h = self.tokens(tokens) + self.positions(positions) + self.segments(segments)
        c = self._condition(condition, len(tokens))
        h = F.dropout(self.embedding_norm(h, c), self.dropout, self.training)
        mask = attention_mask(tokens, self.pad_id, segments, kind)
        for block in self.blocks:
            h = block(h, mask, c)
        return h

    def _condition(self, labels: torch.Tensor | None, batch: int) -> torch.Tensor | None:
        if labels is None:
            return None
        known = self.config.get("conditions")
        if known is None:
            raise ValueError("this model was built without conditions; build it with "
                             "conditions=K (or conditioned_copy) to pass condition labels")
        labels = torch.as_tensor(labels, device=self.tokens.weight.device)
        if labels.dtype not in (torch.int32, torch.int64) or labels.shape != (batch,):
            raise ValueError(f"condition must be {batch} integer labels, one per sequence")
        bad = labels[(labels < 0) | (labels >= known)]
        if len(bad):
            raise ValueError(f"condition label {int(bad[0])} is not one of the model's {known} "
                             f"conditions (0 to {known - 1})")
        return self.condition_embedding(labels)

    def mlm_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Logits over the vocabulary, the output layer tied to the token embeddings."""
        h = self.head_norm(F.gelu(self.head_dense(hidden)))
        return h @ self.tokens.weight.T + self.head_bias

    def parameters_count(self) -> int:
        return sum(p.numel() for p in self.parameters())


def conditioned_copy(model: CharBert, conditions: int, condition_dim: int | None = None
                     ) -> CharBert:
    """A copy of ``model`` with conditional layer normalisation for ``conditions`` labels: the
    same weights, the condition's matrices zero, so that it computes exactly what ``model`` does
    for every label until it is trained."""
    config = {k: v for k, v in model.config.items() if k not in ("conditions", "condition_dim")}
    copy = CharBert(**{k: v for k, v in config.items() if k != "vocab_size"},
                    vocab_size=config["vocab_size"], conditions=conditions,
                    condition_dim=condition_dim)
    missing, unexpected = copy.load_state_dict(model.state_dict(), strict=False)
    if unexpected or any(not (k.startswith("condition_embedding") or ".to_" in k) for k in missing):
        raise CheckpointMismatch(f"cannot copy: missing {missing}, unexpected {unexpected}")
    return copy.to(model.tokens.weight.device).train(model.training)


def mask_tokens(tokens: torch.Tensor, maskable: torch.Tensor, *, mask_id: int, vocab_size: int,
                rate: float = 0.15, generator: torch.Generator | None = None,
                random_from: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(inputs, targets)``: each ``maskable`` position is picked with probability ``rate``; of
    the picked, 80% become ``mask_id``, 10% a uniformly random id in ``[random_from,
    vocab_size)`` other than ``mask_id``'s place, 10% stay; ``targets`` holds the original id at
    the picked positions and -100 (ignored by cross-entropy) elsewhere. One vectorised pass."""
    rate = fraction(rate, "rate")
    if maskable.shape != tokens.shape or maskable.dtype != torch.bool:
        raise ValueError("maskable must be a bool tensor of the tokens' shape")
    device = tokens.device
    drawn_on = generator.device if generator is not None else device
    picked = maskable & (torch.rand(tokens.shape, generator=generator, device=drawn_on)
                         .to(device) < rate)
    action = torch.rand(tokens.shape, generator=generator, device=drawn_on).to(device)
    replace = torch.randint(random_from, vocab_size - 1, tokens.shape, generator=generator,
                            device=drawn_on).to(device)
    replace = replace + (replace >= mask_id).long()  # never the mask id itself
    inputs = torch.where(picked & (action < 0.8), torch.full_like(tokens, mask_id), tokens)
    inputs = torch.where(picked & (action >= 0.8) & (action < 0.9), replace, inputs)
    targets = torch.where(picked, tokens, torch.full_like(tokens, -100))
    return inputs, targets


def mlm_loss(model: CharBert, inputs: torch.Tensor, targets: torch.Tensor):
    """Cross-entropy of the MLM head at the picked positions (``targets != -100``), and the
    accuracy there: a loss function for :mod:`kexue.train`."""
    picked = targets != -100
    logits = model.mlm_logits(model(inputs)[picked])
    labels = targets[picked]
    if not len(labels):
        zero = logits.sum() * 0
        return zero, {"acc": zero.detach()}
    return F.cross_entropy(logits, labels), {"acc": (logits.argmax(1) == labels).float().mean()}


def save(model: CharBert, chars: list[str], path: str | os.PathLike) -> Path:
    """Write the model's configuration, its characters (the vocabulary after the reserved ids)
    and its weights to ``path`` (atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.part")
    torch.save({"format": FORMAT, "config": model.config, "chars": list(chars),
                "state": model.state_dict()}, tmp)
    os.replace(tmp, path)
    return path


def load(path: str | os.PathLike, *, config: dict | None = None,
         chars: list[str] | None = None) -> tuple[CharBert, list[str]]:
    """``(model, chars)`` from a :func:`save` checkpoint, in eval mode. Where ``config`` or
    ``chars`` is given and the checkpoint's differs, :class:`CheckpointMismatch` names the
    difference: a checkpoint from another configuration is never used silently."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        raise CheckpointMismatch(f"{path} is not a {FORMAT} checkpoint")
    if config is not None and saved["config"] != config:
        diff = sorted(k for k in set(config) | set(saved["config"])
                      if config.get(k) != saved["config"].get(k))
        raise CheckpointMismatch(f"{path} was trained with another configuration: "
                                 + ", ".join(f"{k}={saved['config'].get(k)!r} (asked "
                                             f"{config.get(k)!r})" for k in diff))
    if chars is not None and saved["chars"] != list(chars):
        raise CheckpointMismatch(f"{path} has another vocabulary ({len(saved['chars'])} "
                                 f"characters, asked {len(chars)})")
    model = CharBert(**{k: v for k, v in saved["config"].items() if k != "vocab_size"},
                     vocab_size=saved["config"]["vocab_size"])
    model.load_state_dict(saved["state"])
    return model.eval(), saved["chars"]


def load_hf_state_dict(model: CharBert, state: dict[str, torch.Tensor]) -> CharBert:
    """Load the weights of a Hugging Face ``BertForMaskedLM`` (its ``state_dict()``, names as
    ``transformers`` writes them) into ``model``, whose configuration must match (same width,
    layers, heads, vocabulary and positions). A missing or misshapen weight is an error."""
    names = {"tokens.weight": "bert.embeddings.word_embeddings.weight",
             "positions.weight": "bert.embeddings.position_embeddings.weight",
             "segments.weight": "bert.embeddings.token_type_embeddings.weight",
             "embedding_norm.weight": "bert.embeddings.LayerNorm.weight",
             "embedding_norm.bias": "bert.embeddings.LayerNorm.bias",
             "head_dense.weight": "cls.predictions.transform.dense.weight",
             "head_dense.bias": "cls.predictions.transform.dense.bias",
             "head_norm.weight": "cls.predictions.transform.LayerNorm.weight",
             "head_norm.bias": "cls.predictions.transform.LayerNorm.bias",
             "head_bias": "cls.predictions.bias"}
    parts = {"query": "attention.self.query", "key": "attention.self.key",
             "value": "attention.self.value", "attention_output": "attention.output.dense",
             "attention_norm": "attention.output.LayerNorm", "intermediate": "intermediate.dense",
             "output": "output.dense", "output_norm": "output.LayerNorm"}
    for i in range(len(model.blocks)):
        for ours, theirs in parts.items():
            for p in ("weight", "bias"):
                names[f"blocks.{i}.{ours}.{p}"] = f"bert.encoder.layer.{i}.{theirs}.{p}"
    own = model.state_dict()
    loaded = {}
    for ours, theirs in names.items():
        if theirs not in state:
            raise KeyError(f"the state dict has no {theirs!r} (is it a BertForMaskedLM's?)")
        if state[theirs].shape != own[ours].shape:
            raise CheckpointMismatch(f"{theirs} has shape {tuple(state[theirs].shape)}, the model's "
                                     f"{ours} {tuple(own[ours].shape)}: build CharBert with the "
                                     "checkpoint's configuration")
        loaded[ours] = state[theirs]
    model.load_state_dict(loaded)
    return model


def perplexity(loss: float) -> float:
    """``exp(loss)`` of a mean cross-entropy in nats, capped to stay finite."""
    return math.exp(min(loss, 700.0))
