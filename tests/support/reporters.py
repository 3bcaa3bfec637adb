"""Fake reporters for the engine's tests: what the engine reports, kept in lists to assert on."""


class ListReporter:
    """Records every reporter call."""

    def __init__(self):
        self.lines: list[str] = []
        self.points: list[tuple[int, dict, int, str]] = []
        self.checkpoints: list[tuple[str, int, int, dict]] = []

    def log(self, line: str) -> None:
        self.lines.append(line)

    def metrics(self, step: int, values: dict, epoch: int, mode: str) -> None:
        self.points.append((step, values, epoch, mode))

    def checkpoint(self, path: str, epoch: int, iteration: int, metrics: dict) -> None:
        self.checkpoints.append((path, epoch, iteration, metrics))
