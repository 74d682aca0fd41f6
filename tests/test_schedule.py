"""Learning-rate schedule and weight averaging."""

import math

import pytest
import torch

from se3t_calc.train.ema import ExponentialMovingAverage
from se3t_calc.train.schedule import LearningRateSchedule


def _schedule(kind, **kwargs):
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    settings = dict(warmup_steps=10, total_steps=110, min_factor=0.01, factor=0.5, patience=2)
    settings.update(kwargs)
    return LearningRateSchedule(optimizer, kind, 0.1, **settings)


def test_warmup_then_cosine_to_the_floor_by_steps_or_time():
    s = _schedule("cosine")
    assert s.rate(0, 0.0) == pytest.approx(0.01)
    assert s.rate(9, 0.0) == pytest.approx(0.1 * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * 9 / 110))))
    assert s.rate(55, 0.0) == pytest.approx(0.1 * (0.01 + 0.99 * 0.5))  # half way
    assert s.rate(110, 0.0) == pytest.approx(0.001)
    timed = _schedule("cosine", max_seconds=100.0)
    assert timed.rate(20, 50.0) == pytest.approx(0.1 * (0.01 + 0.99 * 0.5))  # time is further along
    assert timed.step(20, 100.0) == pytest.approx(0.001)
    assert timed.optimizer.param_groups[0]["lr"] == pytest.approx(0.001)


def test_plateau_lowers_the_rate_after_patience_and_round_trips():
    s = _schedule("plateau", warmup_steps=0)
    for metric in (5.0, 4.0, 4.5, 4.2):
        s.end_epoch(metric)
    assert s.rate(100, 0.0) == pytest.approx(0.05)
    copy = _schedule("plateau", warmup_steps=0)
    copy.load_state_dict(s.state_dict())
    assert copy.rate(100, 0.0) == s.rate(100, 0.0) and copy.best == 4.0


def test_ema_follows_the_weights_with_warm_start():
    model = torch.nn.Linear(2, 1)
    ema = ExponentialMovingAverage(model, decay=0.9)
    start = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update(model)  # effective decay min(0.9, 2/11)
    torch.testing.assert_close(ema.model.weight, start + 9 / 11)
    zero = ExponentialMovingAverage(model, decay=0.0)
    zero.update(model)
    torch.testing.assert_close(zero.model.weight, model.weight)
