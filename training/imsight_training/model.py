"""The Siamese LSTM of DESIGN §6: raw feature values in, an embedding out, with the
normalisation inside the graph (log1p of the non-negative values, then standardisation with
the training statistics), so the appliance never needs this code.

Reference architecture (the published Siamese LSTM for P-CSCF traffic): BatchNorm over the
features, LSTM (sequence), LSTM (last state), BatchNorm, Dense, BatchNorm, Dense D, BatchNorm.
BatchNorm uses Keras' defaults (eps 1e-3, momentum 0.99 = torch's 0.01).
"""

import torch
from torch import nn


def batch_norm(width):
    return nn.BatchNorm1d(width, eps=1e-3, momentum=0.01)


class Normalise(nn.Module):
    """log1p(max(x, 0)), then (x − mean) / std with the training set's statistics."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))

    def forward(self, x):
        return (torch.log1p(torch.clamp(x, min=0.0)) - self.mean) / self.std


class SiameseLSTM(nn.Module):
    def __init__(self, features=130, width=512, dim=10, mean=None, std=None):
        super().__init__()
        mean = torch.zeros(features) if mean is None else mean
        std = torch.ones(features) if std is None else std
        self.normalise = Normalise(mean, std)
        self.bn_in = batch_norm(features)
        self.lstm_sequence = nn.LSTM(features, width, batch_first=True)
        self.lstm_last = nn.LSTM(width, width, batch_first=True)
        self.bn_state = batch_norm(width)
        self.dense = nn.Linear(width, width)
        self.bn_dense = batch_norm(width)
        self.project = nn.Linear(width, dim)
        self.bn_out = batch_norm(dim)

    def forward(self, x):
        """x: [batch, minutes, features] of raw values; returns [batch, dim]."""
        x = self.normalise(x)
        x = self.bn_in(x.transpose(1, 2)).transpose(1, 2)
        x, _ = self.lstm_sequence(x)
        _, (state, _) = self.lstm_last(x)
        h = self.bn_state(state[-1])
        h = self.bn_dense(torch.relu(self.dense(h)))
        return self.bn_out(self.project(h))


def feature_statistics(minutes):
    """Mean and standard deviation of log1p(max(x, 0)) per feature (a floor keeps constant
    features finite)."""
    x = torch.log1p(torch.clamp(torch.as_tensor(minutes), min=0.0))
    return x.mean(0), x.std(0).clamp(min=1e-3)
