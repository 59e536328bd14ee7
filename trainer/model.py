"""The character LSTM in torch, with the same call signature as the ONNX contract:
(tokens, h0, c0) -> (logits, hn, cn), state shaped [layers, batch, hidden]."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from abcgen.trainer.config import TrainConfig


@dataclass(frozen=True)
class ModelConfig:
    """The shape of a model. The defaults for training are config.TrainConfig's, which
    fills every field (`for_training`); a checkpoint stores them all. Regularisation
    is off unless asked for: a model built only to run or export needs none."""

    vocab_size: int
    embed: int
    hidden: int
    layers: int
    dropout: float = 0.0  # between LSTM layers and before the output layer
    embed_dropout: float = 0.0  # whole input positions dropped (token dropout)
    weight_drop: float = 0.0  # DropConnect on the recurrent weights (AWD-LSTM), training only

    @classmethod
    def for_training(cls, cfg: TrainConfig, vocab_size: int) -> ModelConfig:
        """The model that `cfg` trains: its fields of the same names."""
        return cls(vocab_size, **{f.name: getattr(cfg, f.name) for f in fields(cls)[1:]})

    def to_dict(self) -> dict:
        return asdict(self)


class CharLSTM(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embed)
        self.lstm = nn.LSTM(
            config.embed,
            config.hidden,
            num_layers=config.layers,
            dropout=config.dropout if config.layers > 1 else 0.0,
            batch_first=True,
        )
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden, config.vocab_size)

    def zero_state(self, batch: int, device: torch.device | str = "cpu"):
        shape = (self.config.layers, batch, self.config.hidden)
        return torch.zeros(shape, device=device), torch.zeros(shape, device=device)

    def forward(
        self, tokens: torch.Tensor, h0: torch.Tensor | None = None, c0: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if h0 is None or c0 is None:
            h0, c0 = self.zero_state(tokens.shape[0], tokens.device)
        x = self.embedding(tokens)
        if self.training and self.config.embed_dropout > 0:
            keep = 1.0 - self.config.embed_dropout
            mask = torch.bernoulli(torch.full((x.shape[0], x.shape[1], 1), keep, device=x.device))
            x = x * mask / keep
        if self.training and self.config.weight_drop > 0:
            y, hn, cn = self._lstm_with_dropped_weights(x, h0, c0)
        else:
            y, (hn, cn) = self.lstm(x, (h0, c0))
        return self.head(self.drop(y)), hn, cn

    def _lstm_with_dropped_weights(self, x, h0, c0):
        """DropConnect (AWD-LSTM): the recurrent matrices masked afresh for each window.

        The masked weights go straight to the op nn.LSTM calls (torch.lstm), so the
        module's own weights stay where they are: the state_dict names and the ONNX
        export are those of a plain nn.LSTM, and nothing re-flattens the parameters
        on every call (torch.func.functional_call made nn.LSTM move them into a new
        buffer each window). Under CUDA autocast cuDNN builds its fp16 copy of the
        weights on every call either way; without autocast, cuDNN copies the masked
        weights into one buffer (torch warns once that they are not one chunk).
        """
        lstm, p = self.lstm, self.config.weight_drop
        # Each layer's weights in nn.LSTM's order: w_ih, w_hh, b_ih, b_hh.
        weights = [F.dropout(w, p) if i == 1 else w
                   for layer in lstm.all_weights for i, w in enumerate(layer)]
        return torch.lstm(x, (h0, c0), weights, True, lstm.num_layers, lstm.dropout,
                          True, False, True)  # biases, layers, dropout, train, one way, batch first

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
