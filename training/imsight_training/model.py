"""The Siamese LSTM of DESIGN §6: raw feature values in, an embedding out, with the
normalisation inside the graph (log1p of the non-negative values, then standardisation with
the training statistics), so the appliance never needs this code.

Reference architecture (the published Siamese LSTM for P-CSCF traffic): BatchNorm over the
features, LSTM (sequence), LSTM (last state), BatchNorm, Dense, BatchNorm, Dense D, BatchNorm.
BatchNorm uses Keras' defaults (eps 1e-3, momentum 0.99 = torch's 0.01).

With `relative` (configuration key), each normalised feature also enters as its deviation
from the window's own mean: a fault is a change against the node's recent past, and a
network whose levels differ from every training profile still shows its changes on the same
scale. Both channels are computed in the graph; the input stays the raw [batch, 60, 130].
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
    def __init__(self, features=130, width=512, dim=10, mean=None, std=None, relative=False):
        super().__init__()
        mean = torch.zeros(features) if mean is None else mean
        std = torch.ones(features) if std is None else std
        self.normalise = Normalise(mean, std)
        self.relative = relative
        channels = 2 * features if relative else features
        self.bn_in = batch_norm(channels)
        self.lstm_sequence = nn.LSTM(channels, width, batch_first=True)
        self.lstm_last = nn.LSTM(width, width, batch_first=True)
        self.bn_state = batch_norm(width)
        self.dense = nn.Linear(width, width)
        self.bn_dense = batch_norm(width)
        self.project = nn.Linear(width, dim)
        self.bn_out = batch_norm(dim)

    def forward(self, x):
        """x: [batch, minutes, features] of raw values; returns [batch, dim]."""
        x = self.normalise(x)
        if self.relative:
            x = torch.cat([x, x - x.mean(1, keepdim=True)], dim=2)
        x = self.bn_in(x.transpose(1, 2)).transpose(1, 2)
        x, _ = self.lstm_sequence(x)
        _, (state, _) = self.lstm_last(x)
        h = self.bn_state(state[-1])
        h = self.bn_dense(torch.relu(self.dense(h)))
        return self.bn_out(self.project(h))


def build(cfg, features=130, mean=None, std=None):
    """The model a training configuration describes (untrained, or to load a state into)."""
    return SiameseLSTM(features, cfg["width"], cfg["dim"], mean, std, relative=cfg.get("relative", False))


def feature_statistics(minutes):
    """Mean and standard deviation of log1p(max(x, 0)) per feature (a floor keeps constant
    features finite)."""
    x = torch.log1p(torch.clamp(torch.as_tensor(minutes), min=0.0))
    return x.mean(0), x.std(0).clamp(min=1e-3)
