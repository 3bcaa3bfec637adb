"""Plain data from dataset files in pickle formats: a restricted unpickler that builds numbers, strings,
containers and numeric numpy arrays, never code.

Some dataset formats are pickles (CIFAR's ``cifar-10-batches-py/*`` and ``cifar-100-python/*``). A dataset is
uploaded by a team member, and unpickling runs whatever callable the file names (``os.system`` through
``__reduce__``), so ``pickle.load`` on it would let anyone with an upload run code on every training node
(issue 13, "no code from data"). :func:`read` builds only what those formats hold: None, bools, numbers,
strings, bytes, lists, tuples, dicts, sets, and numpy arrays and scalars of bool, integer, float, complex,
bytes and unicode dtypes. Any other global the file names is refused with :class:`UnsafePickleError`.

Numpy never sees the file's own state: ``numpy.dtype``, ``_reconstruct``, ``_frombuffer`` and ``scalar``
(numpy 1.x ``numpy.core`` and 2.x ``numpy._core`` names alike) are bound to inert records while the file
is read, and afterwards each record becomes a fresh ``np.dtype`` of a checked name and an array copied from
its bytes with ``np.frombuffer``. So a crafted dtype state (object flags on a void dtype, fields holding
objects) or an object array, whose ``__setstate__`` would otherwise reach numpy's C code, never does.
"""

from __future__ import annotations

import io
import os
import pickle
import re
from collections.abc import Callable

import numpy as np

__all__ = ["UnsafePickleError", "parse", "read"]

ALLOWED_CONTENT = "dataset files may hold only arrays, lists, dicts, strings and numbers"

# 'u1', '<f8', 'S10', 'U3': numpy's own reduce names a dtype as kind + size (itemsize for numbers,
# characters or bytes for strings); the byte order comes from the state.
_DTYPE_NAME = re.compile(r"([<>=|]?)([biufcSU])(\d*)")
_NUMERIC_KINDS = "biufc"


class UnsafePickleError(pickle.UnpicklingError):
    """A dataset file that names something other than plain data, or holds a malformed numpy array."""


class _Refusal(Exception):
    """Raised inside the unpickler; :func:`read` turns it into :class:`UnsafePickleError` naming the file."""


# --- inert records of numpy's pickle calls ---------------------------------------------------------------


class _Record:
    """Base of the stand-ins: no ``__dict__`` (BUILD cannot set attributes), state only via ``__setstate__``."""

    __slots__ = ()

    def __setstate__(self, state):
        raise _Refusal(f"refused state given to {self._what()}")

    def _what(self) -> str:
        return type(self).__name__.strip("_").lower()


class _NdarrayType(_Record):
    """Stands for ``numpy.ndarray``, which numpy's pickles only pass to ``_reconstruct`` (never call)."""

    __slots__ = ()

    def _what(self) -> str:
        return "the ndarray type"


_NDARRAY = _NdarrayType()


class _DtypeRecord(_Record):
    """``numpy.dtype(name, align, copy)`` and the state BUILD gives it."""

    __slots__ = ("args", "state")

    def __init__(self, args: tuple):
        self.args, self.state = args, None

    def __setstate__(self, state):
        if self.state is not None:
            raise _Refusal("refused a dtype given state twice")
        self.state = state

    def _what(self) -> str:
        return "a dtype"


class _ArrayRecord(_Record):
    """``_reconstruct(ndarray, shape, typecode)`` followed by BUILD with ``(version, shape, dtype, fortran,
    data)``, or numpy 2's protocol-5 ``_frombuffer(data, dtype, shape, order)`` (``state`` given at once)."""

    __slots__ = ("state", "frombuffer")

    def __init__(self, state: tuple | None = None, frombuffer: bool = False):
        self.state, self.frombuffer = state, frombuffer

    def __setstate__(self, state):
        if self.state is not None:
            raise _Refusal("refused an array given state twice")
        self.state = state

    def _what(self) -> str:
        return "an array"


class _ScalarRecord(_Record):
    """``numpy.core.multiarray.scalar(dtype, data)``: one numpy scalar."""

    __slots__ = ("dtype", "data")

    def __init__(self, dtype, data):
        self.dtype, self.data = dtype, data

    def _what(self) -> str:
        return "a numpy scalar"


def _reconstruct(subtype=None, shape=None, typecode=None, *extra):
    if subtype is not _NDARRAY or extra:
        raise _Refusal("refused numpy's _reconstruct for anything but a plain ndarray")
    return _ArrayRecord()


def _frombuffer(buf=None, dtype=None, shape=None, order=None, *extra):
    if extra:
        raise _Refusal("refused numpy's _frombuffer with extra arguments")
    return _ArrayRecord(state=(buf, dtype, shape, order), frombuffer=True)


def _dtype(*args):
    return _DtypeRecord(args)


def _scalar(dtype=None, data=None, *extra):
    if extra:
        raise _Refusal("refused numpy's scalar with extra arguments")
    return _ScalarRecord(dtype, data)


# --- the few builtins plain data needs below protocol 3/4/5 ------------------------------------------------


def _latin1_bytes(args: tuple, what: str) -> bytes:
    """``bytes`` from a protocol-0..2 pickle's ``(text, 'latin1')`` pair or from bytes: never ``bytes(n)``,
    which would let a tiny file allocate any size."""
    if len(args) == 1 and isinstance(args[0], (bytes, bytearray)):
        return bytes(args[0])
    if (len(args) == 2 and isinstance(args[0], str) and isinstance(args[1], str)
            and args[1].lower().replace("_", "-") in ("latin1", "latin-1")):
        return args[0].encode("latin1")
    if not args and what == "bytes":
        return b""
    raise _Refusal(f"refused {what} called with {_describe_args(args)}")


def _encode(*args):
    return _latin1_bytes(args, "_codecs.encode")


def _bytes(*args):
    return _latin1_bytes(args, "bytes")


def _bytearray(*args):
    return bytearray(_latin1_bytes(args, "bytearray")) if args else bytearray()


def _collection(kind: type) -> Callable:
    def build(*args):
        if len(args) > 1 or (args and not isinstance(args[0], (list, tuple))):
            raise _Refusal(f"refused {kind.__name__} called with {_describe_args(args)}")
        return kind(args[0] if args else ())
    return build


def _complex(*args):
    if len(args) > 2 or not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args):
        raise _Refusal(f"refused complex called with {_describe_args(args)}")
    return complex(*args)


def _describe_args(args: tuple) -> str:
    return "(" + ", ".join(type(a).__name__ for a in args) + ")"


_ALLOWED: dict[tuple[str, str], object] = {
    ("_codecs", "encode"): _encode,
    ("builtins", "bytes"): _bytes,
    ("builtins", "bytearray"): _bytearray,
    ("builtins", "set"): _collection(set),
    ("builtins", "frozenset"): _collection(frozenset),
    ("builtins", "complex"): _complex,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _dtype,
}
for _core in ("numpy.core", "numpy._core"):  # numpy 1.x and 2.x write their own module names
    _ALLOWED[(f"{_core}.multiarray", "_reconstruct")] = _reconstruct
    _ALLOWED[(f"{_core}.multiarray", "scalar")] = _scalar
    _ALLOWED[(f"{_core}.numeric", "_frombuffer")] = _frombuffer


class _Unpickler(pickle.Unpickler):
    """Resolves only the globals of :data:`_ALLOWED`, to the checking stand-ins above."""

    def __init__(self, file, *, encoding: str, errors: str):
        # fix_imports=False: Python 2's module names are mapped below, for the allowed names only.
        super().__init__(file, fix_imports=False, encoding=encoding, errors=errors)
        self.records = 0

    def find_class(self, module: str, name: str):
        if module == "__builtin__":  # Python 2's name of builtins
            module = "builtins"
        found = _ALLOWED.get((module, name))
        if found is None:
            raise _Refusal(f"refused to unpickle {f'{module}.{name}'!r}")
        self.records += 1
        return found

    def persistent_load(self, pid):
        raise _Refusal("refused a persistent id (a reference to an object outside the file)")


# --- records to numpy objects --------------------------------------------------------------------------------


def _text(value, what: str) -> str:
    if isinstance(value, bytes):  # encoding='bytes' leaves Python 2 strings as bytes
        value = value.decode("latin1")
    if not isinstance(value, str):
        raise _Refusal(f"malformed {what}: {type(value).__name__}")
    return value


def _raw_bytes(value, what: str) -> bytes:
    if isinstance(value, str):  # a Python 2 str payload read with encoding='latin1'
        return value.encode("latin1")
    if isinstance(value, (bytes, bytearray)):
        return value
    if isinstance(value, list):  # numpy pickles an object array's items as a list
        raise _Refusal(f"refused to unpickle {what} of Python objects")
    raise _Refusal(f"malformed {what}: its data is a {type(value).__name__}")


def _make_dtype(rec) -> np.dtype:
    """A fresh dtype of a checked name: numeric, bytes or unicode, no fields, no subarray, no objects."""
    if not isinstance(rec, _DtypeRecord):
        raise _Refusal(f"malformed array: its dtype is a {type(rec).__name__}")
    if not 1 <= len(rec.args) <= 3:
        raise _Refusal(f"malformed dtype: numpy.dtype called with {_describe_args(rec.args)}")
    name = _text(rec.args[0], "dtype name")
    match = _DTYPE_NAME.fullmatch(name)
    if not match:
        what = "Python objects" if name.lstrip("<>=|").startswith("O") else "only bool, number and string dtypes"
        raise _Refusal(f"refused to unpickle numpy dtype {name!r} ({what})")
    byteorder, kind, size = match.groups()
    byteorder, elsize = byteorder or "|", -1
    state = rec.state
    if state is not None:
        # numpy's dtype.__setstate__ reads, by the tuple's length (numpy/_core/src/multiarray/descriptor.c):
        # 7-9: (version, byteorder, subarray, names, fields, elsize, alignment[, flags[, metadata]]);
        # 6: (version, byteorder, subarray, fields, elsize, alignment); 5: (byteorder, subarray, fields, ...).
        # Flags and metadata are never used: the dtype is made afresh from its name.
        if not isinstance(state, tuple) or not 5 <= len(state) <= 9:
            raise _Refusal("malformed dtype state")
        first = 0 if len(state) == 5 else 1
        last = first + (3 if len(state) >= 7 else 2)  # subarray, (names,) fields
        if any(part is not None for part in state[first + 1:last + 1]):
            raise _Refusal(f"refused to unpickle a dtype {name!r} with fields or a subarray")
        byteorder = _text(state[first], "dtype byte order")
        elsize = state[last + 1]
        if byteorder not in ("<", ">", "|", "=") or not isinstance(elsize, int):
            raise _Refusal("malformed dtype state")
    if kind in "SU" and elsize > 0:  # the state's element size (bytes; 4 a unicode character) decides
        if kind == "U" and elsize % 4:
            raise _Refusal("malformed dtype state")
        size = str(elsize // 4 if kind == "U" else elsize)
    try:
        dtype = np.dtype(kind + size)
    except (TypeError, ValueError, OverflowError):
        raise _Refusal(f"refused to unpickle numpy dtype {name!r}") from None
    if byteorder in ("<", ">") and dtype.itemsize > 1 and kind != "S":
        dtype = dtype.newbyteorder(byteorder)
    if dtype.kind not in _NUMERIC_KINDS + "SU" or dtype.hasobject or dtype.fields or dtype.subdtype:
        raise _Refusal(f"refused to unpickle numpy dtype {dtype.str!r}")
    if dtype.itemsize == 0:
        raise _Refusal(f"refused to unpickle the empty numpy dtype {name!r}")
    return dtype


def _shape(value) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,)
    if (not isinstance(value, tuple) or len(value) > 64
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in value)):
        raise _Refusal("malformed array shape")
    return value


def _make_array(rec: _ArrayRecord, dtypes: dict) -> np.ndarray:
    state = rec.state
    if rec.frombuffer:
        buf, dtype_rec, shape, order = state
        order = _text(order, "array order")
        if order not in ("C", "F"):
            raise _Refusal(f"malformed array order {order!r}")
        fortran = order == "F"
    else:
        if state is None:
            raise _Refusal("malformed array: no data")
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise _Refusal("malformed array state")
        shape, dtype_rec, fortran, buf = state[-4:]  # (version,) shape, dtype, is_fortran, data
        if not isinstance(fortran, (bool, int)):
            raise _Refusal("malformed array state")
    dtype = _converted(dtype_rec, dtypes)
    if not isinstance(dtype, np.dtype):
        raise _Refusal("malformed array: its dtype is not a dtype")
    shape = _shape(shape)
    data = _raw_bytes(buf, "an array")
    count = 1
    for n in shape:
        count *= n
    if len(data) != count * dtype.itemsize:
        raise _Refusal(f"malformed array: {len(data)} bytes of data for shape {shape} of {dtype.str}")
    flat = np.frombuffer(data, dtype=dtype, count=count)
    return flat.reshape(shape, order="F" if fortran else "C").copy(order="K")


def _make_scalar(rec: _ScalarRecord, dtypes: dict):
    dtype = _converted(rec.dtype, dtypes)
    if not isinstance(dtype, np.dtype):
        raise _Refusal("malformed numpy scalar: its dtype is not a dtype")
    data = _raw_bytes(rec.data, "a numpy scalar")
    if len(data) != dtype.itemsize:
        raise _Refusal("malformed numpy scalar: its data does not match its dtype")
    return np.frombuffer(data, dtype=dtype, count=1)[0]


def _converted(obj, memo: dict):
    """The numpy object a record stands for (memoised: one record shared in the file is one object)."""
    key = id(obj)
    if key in memo:
        return memo[key][1]
    if isinstance(obj, _DtypeRecord):
        value = _make_dtype(obj)
    elif isinstance(obj, _ArrayRecord):
        value = _make_array(obj, memo)
    elif isinstance(obj, _ScalarRecord):
        value = _make_scalar(obj, memo)
    else:
        raise _Refusal(f"refused to unpickle {obj._what()} on its own")
    memo[key] = (obj, value)  # keep obj alive so that its id is not reused
    return value


def _resolve(obj, memo: dict, open_tuples: set):
    """``obj`` with every record replaced by its numpy object: lists and dicts in place, tuples and sets
    rebuilt when a member changed. ``memo`` maps ids to ``(object, result)`` so that shared and cyclic
    structures stay shared and cyclic."""
    key = id(obj)
    if key in memo:
        open_tuples.discard(key)  # a tuple reached again through a list inside it, before it was rebuilt
        return memo[key][1]
    if isinstance(obj, _Record):
        return _converted(obj, memo)
    if isinstance(obj, list):
        memo[key] = (obj, obj)
        for i, item in enumerate(obj):
            obj[i] = _resolve(item, memo, open_tuples)
    elif isinstance(obj, dict):
        memo[key] = (obj, obj)
        items = [(_resolve(k, memo, open_tuples), _resolve(item, memo, open_tuples)) for k, item in obj.items()]
        obj.clear()  # rebuilt in place, in order: a key may have been a numpy scalar's record
        try:
            obj.update(items)
        except TypeError:  # an array as a key
            raise _Refusal("refused to unpickle an array as a dict key") from None
    elif isinstance(obj, (tuple, set, frozenset)):
        memo[key] = (obj, obj)
        open_tuples.add(key)
        items = [_resolve(item, memo, open_tuples) for item in obj]
        reached_again = key not in open_tuples
        open_tuples.discard(key)
        if all(a is b for a, b in zip(items, obj, strict=True)):
            return obj
        if reached_again:  # its cycle already holds the old object, which still holds a record
            raise _Refusal("refused to unpickle a numpy object inside a tuple that holds itself")
        try:
            value = type(obj)(items)
        except TypeError:  # an array in a set
            raise _Refusal("refused to unpickle an array inside a set") from None
        memo[key] = (obj, value)
        return value
    return obj


# --- public --------------------------------------------------------------------------------------------------


def read(path_or_file, *, encoding: str = "ASCII", errors: str = "strict", name: str | None = None):
    """Unpickle a dataset file that may hold only plain data and numeric numpy arrays.

    Args:
        path_or_file: A path, or a binary file object.
        encoding: How Python 2 ``str`` payloads are decoded (``'latin1'`` for CIFAR's files, whose arrays
            were pickled by Python 2; ``'bytes'`` keeps them as bytes), as for ``pickle.load``.
        errors: The decoding's error handling, as for ``pickle.load``.
        name: How error messages name the file (default: the path, or the file object's ``name``), e.g.
            ``'cifar-10-batches-py/data_batch_1'`` rather than a server's absolute path.

    Returns:
        The unpickled data: None, bools, numbers, str, bytes, bytearray, lists, tuples, dicts, sets, and numpy
        arrays (writable copies) and scalars of bool, integer, float, complex, bytes or unicode dtypes.

    Raises:
        UnsafePickleError: the file names any other global (``os.system``, ``builtins.eval``, a class), holds an
            object or structured array, or holds malformed numpy data; the message names the file and the
            refused global.
        pickle.UnpicklingError, EOFError, ValueError: the file is not a pickle at all, as ``pickle.load``.
    """
    if isinstance(path_or_file, (str, os.PathLike)):
        with open(path_or_file, "rb") as f:
            return _load(f, encoding, errors, name or os.fspath(path_or_file))
    return _load(path_or_file, encoding, errors, name or getattr(path_or_file, "name", "<pickle>"))


def parse(data: bytes, *, encoding: str = "ASCII", errors: str = "strict", name: str = "<bytes>"):
    """:func:`read` from bytes in memory.

    Args:
        data: The pickle.
        encoding: As for :func:`read`.
        errors: As for :func:`read`.
        name: How error messages name the data.

    Returns:
        As :func:`read`.
    """
    return _load(io.BytesIO(data), encoding, errors, name)


def _load(file, encoding: str, errors: str, name: str):
    unpickler = _Unpickler(file, encoding=encoding, errors=errors)
    try:
        data = unpickler.load()
        return _resolve(data, {}, set()) if unpickler.records else data
    except RecursionError:
        raise UnsafePickleError(f"{name}: refused data nested too deeply around numpy objects: {ALLOWED_CONTENT}") \
            from None
    except _Refusal as exc:
        raise UnsafePickleError(f"{name}: {exc}: {ALLOWED_CONTENT}") from None
