"""Trainyard's training engine: MMClassification 0.25's toolbox on today's PyTorch.

``workers.registry`` (the ``type=`` names), ``workers.models``, ``workers.data``, ``workers.engine``
(``train``), ``workers.evaluation`` and the ``trainyard`` command in ``workers.cli``. Nothing here
imports Django or Ray; ``workers.distributed`` wraps the engine for Ray.
"""
