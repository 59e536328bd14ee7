"""The character LSTM in torch, with the same call signature as the ONNX contract:
(tokens, h0, c0) -> (logits, hn, cn), state shaped [layers, batch, hidden]."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int
    embed: int = 512
    hidden: int = 256
    layers: int = 3
    dropout: float = 0.2  # between LSTM layers and before the output layer
    embed_dropout: float = 0.0  # whole embedding rows dropped (token dropout)

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
        y, (hn, cn) = self.lstm(x, (h0, c0))
        return self.head(self.drop(y)), hn, cn

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
