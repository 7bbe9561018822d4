"""Read an offline W&B run back from its ``run-<id>.wandb`` file, as wandb's own protobuf records
(`wandb.proto.wandb_internal_pb2.Record`), without a server or an account.

The file is wandb's transaction log: a 7-byte header (``:W&B``, magic, version) followed by
LevelDB-log-format blocks of 32 KiB, each holding chunks of (crc32c, length, type, payload); a
record is one FULL chunk or a FIRST, MIDDLE..., LAST sequence. wandb 0.31 no longer ships a reader
in Python, so this is the few lines it takes. Used by the tests to check what a run really logged.
"""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Iterator
from pathlib import Path

from wandb.proto import wandb_internal_pb2 as pb

HEADER = 7
BLOCK = 32 * 1024
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def iter_records(path: str | Path) -> Iterator[pb.Record]:
    """Every record in a ``.wandb`` file, in order."""
    data = Path(path).read_bytes()
    if data[:4] != b":W&B":
        raise ValueError(f"{path} is not a W&B run file (it does not start with ':W&B').")
    pos, pending = HEADER, b""
    while pos + HEADER <= len(data):
        left_in_block = BLOCK - pos % BLOCK
        if left_in_block < HEADER:  # the block's tail is padding
            pos += left_in_block
            continue
        length, kind = struct.unpack_from("<HB", data, pos + 4)
        payload = data[pos + HEADER : pos + HEADER + length]
        pos += HEADER + length
        if kind == FULL:
            pending = payload
        elif kind in (FIRST, MIDDLE):
            pending = (pending if kind == MIDDLE else b"") + payload
            continue
        elif kind == LAST:
            pending += payload
        else:  # zero padding at the end of a block or of a file still being written
            continue
        record = pb.Record()
        record.ParseFromString(pending)
        yield record


def read_run(run_dir: str | Path) -> dict:
    """The config keys, history rows (key -> JSON-decoded value) and summary of an offline run folder
    (``.../wandb/offline-run-*``)."""
    files = list(Path(run_dir).glob("run-*.wandb"))
    if len(files) != 1:
        raise FileNotFoundError(f"expected one run-*.wandb file in {run_dir}, found {len(files)}")
    config, history, summary = {}, [], {}
    for record in iter_records(files[0]):
        kind = record.WhichOneof("record_type")
        if kind in ("config", "run"):  # wandb.init(config=...) travels in the run record
            updates = record.config.update if kind == "config" else record.run.config.update
            config.update({item.key: json.loads(item.value_json) for item in updates})
        elif kind == "history":
            history.append(
                {item.key or ".".join(item.nested_key): json.loads(item.value_json) for item in record.history.item}
            )
        elif kind == "summary":
            summary.update(
                {item.key or ".".join(item.nested_key): json.loads(item.value_json) for item in record.summary.update}
            )
    return {"config": config, "history": history, "summary": summary}


def wait_closed(run_dir: str | Path, timeout: float = 60.0) -> Path:
    """Shut the W&B service down and wait until the run file in ``run_dir`` ends with wandb's final
    "exit" record, then return ``run_dir``.

    ``run.finish()`` can return before the service has written the run file out (seen under heavy
    CPU load: the file then held no history at all), so read a run back in the same process only
    after this.
    """
    import wandb
    from google.protobuf.message import DecodeError

    wandb.teardown()
    (run_file,) = Path(run_dir).glob("run-*.wandb")
    deadline, kinds = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        try:
            kinds = [record.WhichOneof("record_type") for record in iter_records(run_file)]
        except DecodeError:  # a record still being written
            kinds = []
        if kinds[-1:] == ["exit"]:
            return Path(run_dir)
        time.sleep(0.2)
    raise TimeoutError(f"{run_file} was not closed after {timeout} s; its last records: {kinds[-5:]}")
