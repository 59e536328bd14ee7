"""The character LSTM in torch, with the same call signature as the ONNX contract:
(tokens, h0, c0) -> (logits, hn, cn), state shaped [layers, batch, hidden]."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int
    embed: int = 512
    hidden: int = 256
    layers: int = 3
    dropout: float = 0.2  # between LSTM layers and before the output layer
    embed_dropout: float = 0.0  # whole embedding rows dropped (token dropout)
    weight_drop: float = 0.0  # DropConnect on the recurrent weights (AWD-LSTM), training only

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
            # Same parameters, recurrent matrices masked for this call only, so the
            # state_dict names (and the ONNX export) stay those of a plain nn.LSTM.
            weights = {
                name: F.dropout(w, self.config.weight_drop) if name.startswith("weight_hh") else w
                for name, w in self.lstm.named_parameters()
            }
            y, (hn, cn) = functional_call(self.lstm, weights, (x, (h0, c0)))
        else:
            y, (hn, cn) = self.lstm(x, (h0, c0))
        return self.head(self.drop(y)), hn, cn

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
