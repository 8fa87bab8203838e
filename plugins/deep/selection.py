"""Model selection on the seen-class validation task: which epoch's network to keep.

The engine (:func:`plugins.deep.engine.train`) hands every validated epoch's score, network and
eligibility to an :class:`EpochSelector`; the selector keeps the states it may still choose and
says which epoch won, and how many evaluations have passed without a gain (for ``patience``).
"""

from __future__ import annotations

import torch
from torch import nn


class EpochSelector:
    """Chooses the eligible epoch whose validation mAP, averaged over a *full* window of
    ``window`` evaluations centred on it, is best (the earliest on a tie), and keeps its state.

    Validation tasks on a few pseudo-unseen classes are noisy (±4 points between neighbouring
    epochs on digits); a window of 3 keeps a single lucky evaluation from being chosen. A window
    is never truncated: an average of two evaluations is noisier than one of three and would
    win more often on noise alone (CIFAR-10, 24 bits: the first evaluation's two-point average
    beat the peak's three-point one, and an untrained network was kept). So the first and last
    ``window // 2`` evaluations never compete on their own; they only count inside their
    neighbours' windows.

    An epoch is eligible once the network has fit its training classes (``add(...,
    eligible=...)``; the engine's ``selection_min_accuracy``): on digits an untrained network's
    codes already score 30 % on the validation task at 48 bits, and such a network transfers
    worse (48 bits: 20 % test mAP after 10 epochs, 44 % after 20).

    Fallbacks choose the most-trained network, never an early noisy one:

    * no eligible epoch has a full window (fewer evaluations than ``window`` since the network
      fit its classes): the last eligible epoch;
    * no epoch is eligible at all: the last validated epoch (``fell_back``; the engine warns and
      the record says ``no_epoch_eligible``).

    ``stale`` counts eligible full-window evaluations since the best (for ``patience``).
    """

    def __init__(self, window: int = 1):
        if window < 1 or window % 2 == 0:
            raise ValueError(f"the selection window must be an odd number ≥ 1, not {window}")
        self.half = window // 2
        self.scores: list[tuple[int, float, bool]] = []
        self.states: list[tuple[int, dict[str, torch.Tensor]]] = []
        self.best_epoch: int | None = None
        self.best_score: float | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        self.fell_back = False
        self.stale = 0
        self._last_eligible: tuple[float, int, dict[str, torch.Tensor]] | None = None
        self._decided = 0  # evaluations whose full window has been weighed

    def add(self, epoch: int, score: float, network: nn.Module, eligible: bool = True) -> None:
        self.scores.append((epoch, float(score), bool(eligible)))
        state = {k: v.detach().cpu().clone() for k, v in network.state_dict().items()}
        kept = self.states[max(0, len(self.states) - self.half) :]
        self.states = [*kept, (epoch, state)]
        if eligible:
            self._last_eligible = (float(score), epoch, state)
        while self._decided + self.half < len(self.scores):
            self._decide(self._decided)

    def finish(self) -> None:
        """Settle the choice once training has ended, with the fallbacks above."""
        if self.best_state is not None or not self.scores:
            return
        if self._last_eligible is not None:
            self.best_score, self.best_epoch, self.best_state = self._last_eligible
            return
        epoch, score, _ = self.scores[-1]
        self.best_score, self.best_epoch = score, epoch
        self.best_state = next(state for e, state in self.states if e == epoch)
        self.fell_back = True

    def _decide(self, index: int) -> None:
        """Weigh evaluation ``index`` once its full window has arrived."""
        self._decided += 1
        epoch, _, eligible = self.scores[index]
        if index < self.half or not eligible:
            return
        window = self.scores[index - self.half : index + self.half + 1]
        smoothed = sum(score for _, score, _ in window) / len(window)
        if self.best_score is None or smoothed > self.best_score:
            state = next(state for e, state in self.states if e == epoch)
            self.best_score, self.best_epoch, self.best_state = smoothed, epoch, state
            self.stale = 0
        else:
            self.stale += 1
