"""DeepSpeed reads its checkpoint partitions with weights_only=False; the engine swaps in a weights_only reader
(workers/engine/strategy.py::_load_partition), so a planted partition cannot run code on resume."""
import os
import pickle

import pytest
import torch

from workers.engine.strategy import _load_partition


class _Plant:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_it_reads_what_deepspeed_writes(tmp_path):
    from deepspeed.runtime.fp16.loss_scaler import DynamicLossScaler

    path = tmp_path / "mp_rank_00_model_states.pt"
    torch.save({"module": {"w": torch.ones(2)}, "loss_scaler": DynamicLossScaler(init_scale=8, scale_window=1000, min_scale=1, delayed_shift=1,
                                                                                   consecutive_hysteresis=False)}, path)
    state = _load_partition(str(path))
    assert torch.equal(state["module"]["w"], torch.ones(2)) and state["loss_scaler"].cur_scale == 8


def test_it_refuses_a_partition_that_would_run_code(tmp_path):
    marker = tmp_path / "planted"
    path = tmp_path / "zero_pp_rank_0_mp_rank_00_optim_states.pt"
    torch.save({"optimizer_state_dict": _Plant(str(marker))}, path)
    with pytest.raises(pickle.UnpicklingError):
        _load_partition(str(path))
    assert not os.path.exists(marker)
