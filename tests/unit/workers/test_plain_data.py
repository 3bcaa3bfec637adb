"""The restricted unpickler of dataset files (issue 13, "no code from data"): real CIFAR-format pickles load as
``pickle.load`` would load them, hostile ones are refused with the file and the global named, and no code runs.
"""
from __future__ import annotations

import copyreg
import functools
import io
import os
import pickle
import subprocess

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tests.support.cifar import (
    CIFAR10_CLASSES,
    PlantMarker,
    ShellMarker,
    cifar_batch,
    hostile_batch,
    py2_pickle,
    write_cifar10,
)
from workers.data import build_dataset, plain_data
from workers.data.plain_data import UnsafePickleError

PROTOCOLS = range(pickle.HIGHEST_PROTOCOL + 1)
IN_MEMORY = [{"type": "ImageToTensor", "keys": ["img"]}, {"type": "ToTensor", "keys": ["gt_label"]},
             {"type": "Collect", "keys": ["img", "gt_label"]}]
REFUSAL = "dataset files may hold only arrays, lists, dicts, strings and numbers"


def same(a, b) -> bool:
    """Equal values of equal types, arrays compared byte for byte (NaN included)."""
    if isinstance(a, np.ndarray):
        return (type(b) is np.ndarray and a.dtype == b.dtype and a.shape == b.shape
                and a.tobytes(order="A") == b.tobytes(order="A"))
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return type(b) is dict and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


# --- what datasets hold ------------------------------------------------------------------------------------


def test_it_reads_a_batch_pickled_by_python_2_as_pickle_load_does():
    batch = cifar_batch([3, 1, 4, 1, 5])
    batch["data"][2, 5] = 200  # a byte above 127: the latin1 path must keep it
    raw = py2_pickle(batch)

    got = plain_data.parse(raw, encoding="latin1")

    assert same(got, pickle.loads(raw, encoding="latin1"))
    assert got["data"].dtype == np.uint8 and got["data"].shape == (5, 3072) and got["data"][2, 5] == 200
    assert got["labels"] == [3, 1, 4, 1, 5] and got["batch_label"] == "training batch 1 of 5"
    assert got["data"].flags.writeable


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_it_reads_arrays_pickled_by_the_installed_numpy(protocol):
    arrays = [np.arange(6, dtype=">i4").reshape(2, 3), np.asfortranarray(np.arange(6.0).reshape(2, 3)),
              np.array(["ab", "c"]), np.array([b"x", b"yz"]), np.array(5), np.zeros((0, 3), np.uint8),
              np.array([True, False]), np.array([1 + 2j], np.complex64), np.arange(10)[::3], np.float16(2.5),
              np.int64(-7), np.str_("label")]
    data = {"arrays": arrays, "shared": [arrays[0], arrays[0]]}

    got = plain_data.parse(pickle.dumps(data, protocol=protocol))

    assert same(got["arrays"][:9], arrays[:9])
    assert got["arrays"][1].flags.f_contiguous
    assert [type(x) for x in got["arrays"][9:]] == [np.float16, np.int64, np.str_]
    assert got["arrays"][9:] == arrays[9:]
    assert got["shared"][0] is got["shared"][1]


def test_it_reads_the_python_2_layout_with_encoding_bytes():
    got = plain_data.parse(py2_pickle({"label_names": ["cat"], "data": np.arange(3, dtype=np.uint8)}),
                            encoding="bytes")
    assert got[b"label_names"] == [b"cat"] and got[b"data"].tolist() == [0, 1, 2]


plain = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text() | st.binary()
    | st.complex_numbers(allow_nan=False),
    lambda children: (st.lists(children, max_size=4) | st.tuples(children, children)
                      | st.dictionaries(st.text(max_size=5) | st.integers(), children, max_size=4)),
    max_leaves=20,
)
arrays = hnp.arrays(
    dtype=hnp.boolean_dtypes() | hnp.integer_dtypes() | hnp.unsigned_integer_dtypes() | hnp.floating_dtypes()
    | hnp.complex_number_dtypes() | hnp.byte_string_dtypes() | hnp.unicode_string_dtypes(),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=4),
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=plain, array=arrays, protocol=st.sampled_from(PROTOCOLS))
def test_it_round_trips_plain_data_and_arrays(data, array, protocol):
    value = {"data": data, "array": array, "set": {1, "a"}, "bytes": bytearray(b"\x00\xff")}
    got = plain_data.parse(pickle.dumps(value, protocol=protocol))
    assert same(got["data"], data)
    assert same(got["array"], array)
    assert got["set"] == {1, "a"} and got["bytes"] == bytearray(b"\x00\xff")


# --- what attackers write ---------------------------------------------------------------------------------


class Reduces:
    """An object that unpickles as ``func(*args)``."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


class Anything:
    """A plain class instance: pickled through copyreg, refused although it runs nothing by itself."""


def refused(raw: bytes, name: str = "cifar-10-batches-py/data_batch_1") -> str:
    with pytest.raises(UnsafePickleError) as info:
        plain_data.read(io.BytesIO(raw), encoding="latin1", name=name)
    assert str(info.value).startswith(f"{name}: ") and str(info.value).endswith(REFUSAL)
    return str(info.value)


def test_it_proves_the_hostile_batch_runs_code_under_pickle_load(tmp_path):
    # the payload is live: stock unpickling plants the marker, so the refusals below are no accident
    marker = tmp_path / "planted"
    pickle.loads(hostile_batch(marker))
    assert marker.exists()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_it_refuses_os_system_at_every_protocol(tmp_path, protocol):
    marker = tmp_path / "planted"
    message = refused(hostile_batch(marker, protocol))
    assert "refused to unpickle 'posix.system'" in message
    assert not marker.exists()


@pytest.mark.parametrize(("payload", "named"), [
    (lambda m: Reduces(eval, f"open({str(m)!r}, 'w')"), "builtins.eval"),
    (lambda m: Reduces(exec, f"open({str(m)!r}, 'w')"), "builtins.exec"),
    (lambda m: Reduces(subprocess.call, ["touch", str(m)]), "subprocess.call"),
    (lambda m: Reduces(subprocess.Popen, ["touch", str(m)]), "subprocess.Popen"),
    (lambda m: Reduces(functools.partial(os.system, f"touch {m}")), "functools.partial"),
    (lambda m: PlantMarker(m), "io.open"),
    (lambda m: Reduces(getattr, Reduces(__import__, "os"), "system"), "builtins.getattr"),
    (lambda m: Reduces(np.load, str(m), None, True), "numpy.load"),
    (lambda m: {"data": [1, {"deep": (2, [ShellMarker(m)])}]}, "posix.system"),
    (lambda m: Anything(), "copyreg._reconstructor"),
], ids=["eval", "exec", "subprocess-call", "popen", "partial", "open", "getattr", "numpy-load", "nested",
        "class-instance"])
@pytest.mark.parametrize("protocol", [0, 2, 5])
def test_it_refuses_every_other_callable(tmp_path, payload, named, protocol):
    marker = tmp_path / "planted"
    # fix_imports=False: below protocol 3 Python would write some names as Python 2's ('commands.call')
    raw = pickle.dumps(payload(marker), protocol=protocol, fix_imports=False)
    message = refused(raw)
    assert f"refused to unpickle {named!r}" in message or (
        named == "copyreg._reconstructor" and "refused to unpickle 'tests.unit.workers.test_plain_data." in message)
    assert not marker.exists()


def test_it_refuses_posix_system_named_directly(tmp_path):
    marker = tmp_path / "planted"
    raw = b"cposix\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR."
    assert "refused to unpickle 'posix.system'" in refused(raw)
    assert not marker.exists()


def test_it_refuses_copyreg_reconstructor_even_for_a_builtin_type():
    raw = pickle.dumps(Reduces(copyreg._reconstructor, list, object, None), protocol=2)
    assert "refused to unpickle 'copy_reg._reconstructor'" in refused(raw)  # Python 2's name, as written
    raw = pickle.dumps(Reduces(copyreg._reconstructor, list, object, None), protocol=2, fix_imports=False)
    assert "refused to unpickle 'copyreg._reconstructor'" in refused(raw)


def test_it_refuses_arrays_of_python_objects(tmp_path):
    harmless = np.array([1, "a", None], dtype=object)
    for protocol in PROTOCOLS:
        assert "refused to unpickle numpy dtype 'O8' (Python objects)" in refused(pickle.dumps(harmless, protocol))
    marker = tmp_path / "planted"
    hostile = np.array([ShellMarker(marker)], dtype=object)
    assert "refused to unpickle" in refused(pickle.dumps(hostile, protocol=2))
    assert not marker.exists()


def test_it_refuses_structured_and_date_dtypes():
    assert "numpy dtype 'V12'" in refused(pickle.dumps(np.zeros(2, dtype=[("a", "i4"), ("b", "f8")]), 2))
    assert "numpy dtype 'M8'" in refused(pickle.dumps(np.array(["2020-01-01"], dtype="M8[D]"), 2))


def test_it_never_hands_a_crafted_dtype_state_to_numpy():
    # a uint8 dtype whose state claims numpy's object flags (NPY_ITEM_REFCOUNT | NPY_LIST_PICKLE ...): were the
    # state given to numpy, the array's bytes could be read as object pointers. The dtype is made afresh.
    raw = pickle.dumps(np.arange(8, dtype=np.uint8), protocol=2)
    crafted = raw.replace(b"J\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00t", b"J\xff\xff\xff\xffJ\xff\xff\xff\xffK\x1ft")
    assert crafted != raw

    got = plain_data.parse(crafted)

    assert got.dtype == np.uint8 and got.dtype.flags == 0 and not got.dtype.hasobject
    assert got.tolist() == list(range(8))


def test_it_refuses_a_dtype_state_with_fields():
    raw = pickle.dumps(np.arange(2, dtype=np.uint8), protocol=2)
    crafted = raw.replace(b"NNNJ", b"N}NJ", 1)  # fields = {} where numpy wrote None
    assert crafted != raw
    assert "with fields or a subarray" in refused(crafted)


def test_it_refuses_reconstruct_of_anything_but_ndarray():
    raw = pickle.dumps(np.arange(2, dtype=np.uint8), protocol=2)
    crafted = raw.replace(b"cnumpy\nndarray\n", b"cnumpy\ndtype\n", 1)
    assert crafted != raw
    assert "refused numpy's _reconstruct for anything but a plain ndarray" in refused(crafted)


def test_it_refuses_an_array_whose_shape_outgrows_its_bytes():
    raw = pickle.dumps(np.arange(4, dtype=np.uint8), protocol=2)
    crafted = raw.replace(b"K\x04\x85", b"J\x00\x00\x00\x40\x85", 1)  # shape (4,) -> (2**30,)
    assert crafted != raw
    assert "malformed array: 4 bytes of data for shape (1073741824,)" in refused(crafted)


def test_it_refuses_allocations_a_tiny_file_would_ask_for():
    assert "refused bytes called with (int)" in refused(b"c__builtin__\nbytes\n(J\x00\x00\x00\x40tR.")
    assert "refused bytearray called with (int)" in refused(b"cbuiltins\nbytearray\n(J\x00\x00\x00\x40tR.")


def test_it_refuses_persistent_ids():
    assert "refused a persistent id" in refused(b"Pfoo\n.")


# --- the CIFAR datasets ------------------------------------------------------------------------------------


def test_it_reads_published_cifar10_batches(tmp_path):
    write_cifar10(tmp_path / "cifar10")
    train = build_dataset({"type": "CIFAR10", "data_prefix": str(tmp_path / "cifar10"), "pipeline": IN_MEMORY})
    assert len(train) == 10 and train.CLASSES == CIFAR10_CLASSES
    assert train.get_gt_labels().tolist() == [0, 3, 1, 4, 2, 5, 3, 6, 4, 7]
    assert train.data_infos[1]["img"][0, 0].tolist() == [3, 0, 7]


def test_it_reads_cifar10_batches_pickled_by_this_python(tmp_path):
    write_cifar10(tmp_path, py2=False)
    test = build_dataset({"type": "CIFAR10", "data_prefix": str(tmp_path), "test_mode": True})
    assert test.get_gt_labels().tolist() == [5, 8]


def test_it_refuses_a_hostile_cifar10_batch_without_running_it(tmp_path):
    marker = tmp_path / "planted"
    write_cifar10(tmp_path / "cifar10", replace={"data_batch_3": hostile_batch(marker)})

    with pytest.raises(UnsafePickleError) as info:
        build_dataset({"type": "CIFAR10", "data_prefix": str(tmp_path / "cifar10")})

    assert str(info.value) == f"cifar-10-batches-py/data_batch_3: refused to unpickle 'posix.system': {REFUSAL}"
    assert not marker.exists()


def test_it_refuses_a_hostile_cifar100_meta_file(tmp_path):
    marker = tmp_path / "planted"
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    for name in ("train", "test"):
        batch = cifar_batch([1, 2])
        batch["fine_labels"] = batch.pop("labels")
        (folder / name).write_bytes(py2_pickle(batch))
    (folder / "meta").write_bytes(pickle.dumps({"fine_label_names": PlantMarker(marker)}, protocol=2))

    with pytest.raises(UnsafePickleError, match=r"^cifar-100-python/meta: refused to unpickle 'io.open'"):
        build_dataset({"type": "CIFAR100", "data_prefix": str(tmp_path)})
    assert not marker.exists()
