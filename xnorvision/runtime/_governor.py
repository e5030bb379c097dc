"""Per model, choose the kernels' thread policy (eager or cautious) by timing runs in both.

Eager thresholds (kernels go parallel from ~40 us of work) made the faces pipeline 17% faster on an idle
2-core machine; with another process on the second core they made it 5x slower, because every parallel
region waits for a thread the OS has not scheduled. Nothing cheap predicts which holds, and it changes
while a program runs, so the governor mostly runs the faster policy and now and then probes the other,
probing half as often each time the probe loses (never less than once in ``max_interval`` runs).
"""

from __future__ import annotations


class ThreadGovernor:
    """Picks the policy for each run from the seconds per input pixel it measured for both."""

    def __init__(self, interval: int = 8, max_interval: int = 256, smoothing: float = 0.25) -> None:
        self.first_interval, self.max_interval, self.smoothing = interval, max_interval, smoothing
        self.interval = interval
        self.eager = True  # optimistic: an idle machine is the common case
        self.cost: dict[bool, float | None] = {True: None, False: None}
        self.since_probe = 0

    def choose(self) -> bool:
        """The policy for the next run: the current one, or the other one when a probe is due."""
        due = self.since_probe >= (2 if self.cost[not self.eager] is None else self.interval)
        return (not self.eager) if due else self.eager

    def record(self, eager: bool, seconds: float, pixels: int) -> None:
        """Account a run made with policy ``eager`` that took ``seconds`` for ``pixels`` input pixels."""
        sample = seconds / max(pixels, 1)
        old = self.cost[eager]
        if eager == self.eager:
            # a slow outlier (a new input size planning its buffers) moves the estimate at most 3x
            self.cost[eager] = sample if old is None else old + self.smoothing * (min(sample, 3 * old) - old)
            # twice as slow as usual: the machine may have changed (a process took a core), look now
            self.since_probe = self.interval if old is not None and sample > 2 * old else self.since_probe + 1
            return
        self.cost[eager] = sample  # a probe replaces its policy's estimate: the old one is stale
        self.since_probe = 0
        current = self.cost[self.eager]
        if current is not None and sample < current:  # the probe won: switch, and probe soon again
            self.eager, self.interval = eager, self.first_interval
        else:
            self.interval = min(2 * self.interval, self.max_interval)
