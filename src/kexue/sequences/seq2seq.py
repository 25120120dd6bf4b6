"""An encoder-decoder with attention that writes a poem's title, and the post's prior over the
characters of the input (post 5861).

Serves chapters/part6-sequences/seq2seq-titles.ipynb.

The encoder reads the poem with a two-layer bidirectional LSTM; the decoder is a two-layer LSTM
over the title so far, sharing the encoder's character embeddings (input and output are the same
language). At each step the decoder state ``h_t`` attends to the encoder's outputs (scaled dot
product, padding masked) and the output layer reads ``x_t = [h_t, c, a_t]``: the state, a summary
``c`` of the whole poem (the masked mean of the encoder outputs) and the attention read-out
``a_t`` through a dense layer with a leaky ReLU (as the post's code does: a saturating ``tanh`` there
stalled training once the prior below halves the logits); its logits ``y`` score the vocabulary.

The prior. Most characters of a title occur in the text it names. With ``χ ∈ {0,1}^V`` marking the
characters present in the input, the post adds trained vectors ``s, t ∈ R^V`` and averages

    ŷ = s ⊗ χ + t,        y ← (y + ŷ) / 2,

before the softmax: a learned, per-character bonus for copying from the input.
"""
from __future__ import annotations

import torch
from torch import nn

from ..checks import positive_int
from .stopping import HEADS, self_terminating_log_probs


class InputPrior(nn.Module):
    """``(y + s⊗χ + t) / 2``, ``χ`` the indicator of the characters present in the source
    (reserved ids below ``first_char`` never count as present)."""

    def __init__(self, vocab_size: int, first_char: int = 4):
        super().__init__()
        self.scale = nn.Parameter(torch.zeros(vocab_size))
        self.shift = nn.Parameter(torch.zeros(vocab_size))
        self.first_char = first_char

    def presence(self, source: torch.Tensor) -> torch.Tensor:
        """``χ``: ``[B, V]``, 1 where the character occurs in the source row."""
        chi = torch.zeros(len(source), len(self.scale), device=source.device)
        chi.scatter_(1, source, 1.0)
        chi[:, :self.first_char] = 0.0
        return chi

    def forward(self, logits: torch.Tensor, chi: torch.Tensor) -> torch.Tensor:
        """``logits``: ``[B, T, V]`` (or ``[B, V]``), ``chi``: ``[B, V]``."""
        prior = self.scale * chi + self.shift
        return (logits + (prior.unsqueeze(1) if logits.ndim == 3 else prior)) / 2


def check_tokens(tokens: torch.Tensor, name: str, vocab_size: int, max_length: int | None = None
                 ) -> torch.Tensor:
    """``tokens`` as a ``[B, T]`` int64 tensor of ids in ``[0, vocab_size)``, at most
    ``max_length`` long; a clear error otherwise."""
    if not isinstance(tokens, torch.Tensor) or tokens.dtype != torch.long or tokens.ndim != 2:
        raise ValueError(f"{name} must be an int64 tensor [batch, length], got "
                         f"{getattr(tokens, 'dtype', type(tokens).__name__)} "
                         f"{tuple(getattr(tokens, 'shape', ()))}")
    if tokens.shape[1] == 0:
        raise ValueError(f"{name} is empty: a sequence needs at least one token")
    if max_length is not None and tokens.shape[1] > max_length:
        raise ValueError(f"{name} has {tokens.shape[1]} positions, more than the model's limit "
                         f"of {max_length}")
    if not bool(((tokens >= 0) & (tokens < vocab_size)).all()):
        raise ValueError(f"{name}: token ids must lie in [0, {vocab_size})")
    return tokens


def _rows(encoded: dict, rows: torch.Tensor | None) -> dict:
    """What :meth:`encode` gave, indexed by ``rows`` (each hypothesis its source's row)."""
    if rows is None:
        return encoded
    return {k: (v[rows] if v is not None else None) for k, v in encoded.items()}


class TitleSeq2Seq(nn.Module):
    """The post's title generator: shared embeddings, a bidirectional LSTM encoder, an LSTM
    decoder with attention, and optionally the input prior. ``forward(source, target_in)`` gives
    the logits ``[B, T, V]`` of ``target_in`` shifted by one (teacher forcing). With
    ``head="self-terminating"`` (post 7500, :mod:`kexue.sequences.stopping`) they are the
    self-terminating layer's log-probabilities, whose stop probability cannot fall along a
    title."""

    def __init__(self, vocab_size: int, *, dim: int = 128, hidden: int = 128, layers: int = 2,
                 input_prior: bool = True, pad_id: int = 0, eos_id: int = 3, max_source: int = 128,
                 max_target: int = 64, head: str = "softmax", epsilon: float | None = None):
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {head!r}")
        if head == "self-terminating" and epsilon is None:
            raise ValueError("the self-terminating head needs epsilon in (0, 1)")
        self.head, self.epsilon, self.eos_id = head, epsilon, eos_id
        self.vocab_size = positive_int(vocab_size, "vocab_size")
        self.pad_id, self.hidden = pad_id, positive_int(hidden, "hidden")
        self.max_source = positive_int(max_source, "max_source")
        self.max_target = positive_int(max_target, "max_target")
        self.embed = nn.Embedding(vocab_size, positive_int(dim, "dim"), padding_idx=pad_id)
        self.encoder = nn.LSTM(dim, hidden, positive_int(layers, "layers"), batch_first=True,
                               bidirectional=True)
        self.bridge = nn.Linear(2 * hidden, hidden)
        self.decoder = nn.LSTM(dim, hidden, layers, batch_first=True)
        self.features = nn.Sequential(nn.Linear(3 * hidden, dim), nn.LeakyReLU(0.2))
        self.out = nn.Linear(dim, vocab_size)
        self.prior = InputPrior(vocab_size) if input_prior else None

    def encode(self, source: torch.Tensor) -> dict:
        """The encoder's outputs ``[B, S, H]`` (projected), the padding mask, the summary ``c``
        and ``χ``: everything the decoder needs, computed once per source."""
        source = check_tokens(source, "source", self.vocab_size, self.max_source)
        mask = source != self.pad_id
        lengths = mask.sum(1)
        if bool((lengths == 0).any()):
            raise ValueError("a source row holds only padding")
        packed = nn.utils.rnn.pack_padded_sequence(self.embed(source), lengths.cpu(),
                                                   batch_first=True, enforce_sorted=False)
        outputs, _ = self.encoder(packed)
        outputs, _ = nn.utils.rnn.pad_packed_sequence(outputs, batch_first=True,
                                                      total_length=source.shape[1])
        memory = self.bridge(outputs)
        summary = (memory * mask.unsqueeze(-1)).sum(1) / lengths.unsqueeze(-1)
        chi = self.prior.presence(source) if self.prior is not None else None
        return {"memory": memory, "mask": mask, "summary": summary, "chi": chi}

    def decode(self, encoded: dict, target_in: torch.Tensor, rows: torch.Tensor | None = None
               ) -> torch.Tensor:
        """Logits ``[B, T, V]`` for each prefix of ``target_in``; row ``i`` reads source
        ``rows[i]`` of ``encoded`` (all rows in order where ``rows`` is None)."""
        target_in = check_tokens(target_in, "target_in", self.vocab_size, self.max_target)
        encoded = _rows(encoded, rows)
        states, weights = self._attend(encoded, target_in)
        read = weights @ encoded["memory"]
        summary = encoded["summary"].unsqueeze(1).expand_as(states)
        logits = self.out(self.features(torch.cat([states, summary, read], -1)))
        if self.prior is not None:
            logits = self.prior(logits, encoded["chi"])
        if self.head == "self-terminating":  # log-probabilities: softmax leaves them as they are
            return self_terminating_log_probs(logits, self.eos_id, self.epsilon)
        return logits

    def _attend(self, encoded: dict, target_in: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The decoder states ``[B, T, H]`` and their attention weights ``[B, T, S]`` over the
        source (scaled dot products, padding masked, softmax over the source)."""
        states, _ = self.decoder(self.embed(target_in))
        scores = states @ encoded["memory"].transpose(1, 2) / self.hidden ** 0.5
        scores = scores.masked_fill(~encoded["mask"].unsqueeze(1), float("-inf"))
        return states, scores.softmax(-1)

    @torch.no_grad()
    def attention(self, source: torch.Tensor, target_in: torch.Tensor) -> torch.Tensor:
        """Where each step of the decoder looks: weights ``[B, T, S]`` over the source's
        characters for each prefix of ``target_in`` (rows sum to 1 over the real characters)."""
        target_in = check_tokens(target_in, "target_in", self.vocab_size, self.max_target)
        return self._attend(self.encode(source), target_in)[1]

    def forward(self, source: torch.Tensor, target_in: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(source), target_in)


class TitleTransformer(nn.Module):
    """A small encoder-decoder Transformer with the same interface as :class:`TitleSeq2Seq`
    (shared embeddings, learned positions, pre-norm layers), optionally with the input prior."""

    def __init__(self, vocab_size: int, *, dim: int = 128, heads: int = 4, layers: int = 2,
                 feedforward: int = 512, dropout: float = 0.1, input_prior: bool = True,
                 pad_id: int = 0, max_source: int = 128, max_target: int = 64):
        super().__init__()
        self.vocab_size = positive_int(vocab_size, "vocab_size")
        self.pad_id = pad_id
        self.max_source = positive_int(max_source, "max_source")
        self.max_target = positive_int(max_target, "max_target")
        self.embed = nn.Embedding(vocab_size, positive_int(dim, "dim"), padding_idx=pad_id)
        self.source_positions = nn.Embedding(self.max_source, dim)
        self.target_positions = nn.Embedding(self.max_target, dim)
        layer = dict(d_model=dim, nhead=positive_int(heads, "heads"),
                     dim_feedforward=feedforward, dropout=dropout, batch_first=True,
                     norm_first=True)
        self.encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(**layer), layers,
                                             norm=nn.LayerNorm(dim), enable_nested_tensor=False)
        self.decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(**layer), layers,
                                             norm=nn.LayerNorm(dim))
        self.out = nn.Linear(dim, vocab_size)
        self.prior = InputPrior(vocab_size) if input_prior else None

    def encode(self, source: torch.Tensor) -> dict:
        source = check_tokens(source, "source", self.vocab_size, self.max_source)
        mask = source != self.pad_id
        if bool((mask.sum(1) == 0).any()):
            raise ValueError("a source row holds only padding")
        positions = torch.arange(source.shape[1], device=source.device)
        x = self.embed(source) + self.source_positions(positions)
        memory = self.encoder(x, src_key_padding_mask=~mask)
        chi = self.prior.presence(source) if self.prior is not None else None
        return {"memory": memory, "mask": mask, "chi": chi}

    def decode(self, encoded: dict, target_in: torch.Tensor, rows: torch.Tensor | None = None
               ) -> torch.Tensor:
        target_in = check_tokens(target_in, "target_in", self.vocab_size, self.max_target)
        encoded = _rows(encoded, rows)
        length = target_in.shape[1]
        positions = torch.arange(length, device=target_in.device)
        y = self.embed(target_in) + self.target_positions(positions)
        causal = nn.Transformer.generate_square_subsequent_mask(length, device=target_in.device)
        states = self.decoder(y, encoded["memory"], tgt_mask=causal, tgt_is_causal=True,
                                          memory_key_padding_mask=~encoded["mask"])
        logits = self.out(states)
        return self.prior(logits, encoded["chi"]) if self.prior is not None else logits

    def forward(self, source: torch.Tensor, target_in: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(source), target_in)


def teacher_forcing_loss(model: nn.Module, source: torch.Tensor, target: torch.Tensor
                         ) -> tuple[torch.Tensor, dict]:
    """Cross-entropy of ``target`` (``[B, T]``: BOS, the title, EOS, padding) given ``source``:
    the model reads ``target[:, :-1]`` and predicts ``target[:, 1:]``, padding ignored."""
    logits = model(source, target[:, :-1])
    gold = target[:, 1:]
    real = gold != model.pad_id
    loss = nn.functional.cross_entropy(logits[real], gold[real])
    return loss, {"accuracy": (logits[real].argmax(-1) == gold[real]).float().mean().detach()}


def step_function(model: nn.Module, source: torch.Tensor):
    """``step(prefix, rows) -> logits [B, V]`` for :mod:`kexue.sequences.decoding`: the sources
    are encoded once; each hypothesis reads its own source row."""
    encoded = model.encode(source)

    def step(prefix: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return model.decode(encoded, prefix, rows)[:, -1]

    return step
