"""Read what W&B wrote offline: the records of a ``run-<id>.wandb`` file (W&B's LevelDB-style log: a 7-byte
header ``:W&B`` + magic + version, then 32 KiB blocks of chunks, each ``crc32 (4) | length (2) | type (1)``,
type 1 a whole record, 2/3/4 its first/middle/last part), parsed as ``wandb_internal_pb2.Record``. wandb 0.19+
no longer ships a Python reader, so the tests keep this one."""
from __future__ import annotations

import json
import struct
from pathlib import Path

BLOCK = 32 * 1024
FILE_HEADER = 7
CHUNK_HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def read_records(path: str | Path) -> list:
    """Every record of a ``.wandb`` file, in order."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = Path(path).read_bytes()
    if data[:4] != b":W&B":
        raise ValueError(f"{path} is not a W&B run file")
    records, pending, offset = [], b"", FILE_HEADER
    while offset + CHUNK_HEADER <= len(data):
        room = BLOCK - offset % BLOCK
        if room < CHUNK_HEADER:  # the block's tail is padding
            offset += room
            continue
        _, length, kind = struct.unpack("<IHB", data[offset:offset + CHUNK_HEADER])
        chunk = data[offset + CHUNK_HEADER:offset + CHUNK_HEADER + length]
        offset += CHUNK_HEADER + length
        if kind == 0 and length == 0:
            offset += BLOCK - offset % BLOCK if offset % BLOCK else 0
            continue
        pending = chunk if kind in (FULL, FIRST) else pending + chunk
        if kind in (FULL, LAST):
            record = pb.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


def history(path: str | Path) -> list[dict]:
    """The ``run.log`` calls of a run file: ``{key: value, ..., '_step': step}`` each."""
    rows = []
    for record in read_records(path):
        if record.WhichOneof("record_type") == "history":
            row = {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.history.item}
            rows.append(row)
    return rows


def run_file(work_dir: str | Path) -> Path:
    """The one offline run file under ``<work_dir>/wandb``."""
    found = sorted(Path(work_dir).glob("wandb/offline-run-*/run-*.wandb"))
    if len(found) != 1:
        raise FileNotFoundError(f"expected one offline W&B run under {work_dir}, found {found}")
    return found[0]
