"""Every backbone family of the library, at its smallest variant with random weights, exported to ONNX and
TorchScript with --verify (``workers/export/coverage.py``), against what its metafile says (``Export``)."""

from __future__ import annotations

import pytest

from workers.export.coverage import coverage_cases, expected, run_case, state

CASES = coverage_cases()


def test_every_family_of_the_library_is_covered():
    from jobspecs.library import library_dir
    from workers.export.coverage import NOT_FAMILIES

    folders = {p.name for p in library_dir().iterdir() if p.is_dir() and p.name not in NOT_FAMILIES}
    assert folders == {case.folder for case in CASES}


@pytest.mark.parametrize("case", CASES, ids=[c.folder for c in CASES])
def test_the_family_exports_as_its_metafile_says(case, tmp_path):
    said = expected(case.folder)
    found = {outcome.format: outcome for outcome in run_case(case, tmp_path)}
    for fmt, outcome in found.items():
        assert state(outcome) == said[fmt], (
            f"{case.folder} ({case.variant}) to {fmt}: the metafile says {said[fmt]!r}, the export "
            f"{state(outcome)!r} ({outcome.error}); if that is right, record it with "
            f"`python -m workers.export.coverage --write-metafiles {case.folder}`")
