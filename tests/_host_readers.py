"""Independent readers of TensorBoard event files and W&B offline run files.

Both formats are read here from their published layouts (TFRecord framing of
`Event` protos; the LevelDB-style log of W&B `Record` protos), not through lerax.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path


def tensorboard_scalars(run_dir: Path) -> dict[str, dict[int, float]]:
    """Every scalar in a TensorBoard run directory: `{tag: {step: value}}`."""
    from tensorboardX.proto import event_pb2

    out: dict[str, dict[int, float]] = {}
    for path in sorted(run_dir.glob("events.out.tfevents.*")):
        data = path.read_bytes()
        pos = 0
        while pos < len(data):
            (length,) = struct.unpack("<Q", data[pos : pos + 8])
            event = event_pb2.Event.FromString(data[pos + 12 : pos + 12 + length])
            pos += 12 + length + 4
            for value in event.summary.value:
                if value.HasField("simple_value"):
                    out.setdefault(value.tag, {})[event.step] = value.simple_value
    return out


def tensorboard_texts(run_dir: Path) -> dict[str, str]:
    """Every text summary in a TensorBoard run directory: `{tag: text}`."""
    from tensorboardX.proto import event_pb2

    out: dict[str, str] = {}
    for path in sorted(run_dir.glob("events.out.tfevents.*")):
        data = path.read_bytes()
        pos = 0
        while pos < len(data):
            (length,) = struct.unpack("<Q", data[pos : pos + 8])
            event = event_pb2.Event.FromString(data[pos + 12 : pos + 12 + length])
            pos += 12 + length + 4
            for value in event.summary.value:
                if value.HasField("tensor") and value.tensor.string_val:
                    out[value.tag.split("/")[0]] = value.tensor.string_val[0].decode()
    return out


def tensorboard_hparams(run_dir: Path) -> dict[str, object]:
    """The HParams plugin records of a TensorBoard run directory.

    Returns `{"hparams": {name: value}, "metrics": [tag, ...], "status": int}`
    from the experiment, session-start and session-end summaries.
    """
    from tensorboardX.proto import event_pb2, plugin_hparams_pb2

    out: dict[str, object] = {}
    for path in sorted(run_dir.glob("events.out.tfevents.*")):
        data = path.read_bytes()
        pos = 0
        while pos < len(data):
            (length,) = struct.unpack("<Q", data[pos : pos + 8])
            event = event_pb2.Event.FromString(data[pos + 12 : pos + 12 + length])
            pos += 12 + length + 4
            for value in event.summary.value:
                plugin = value.metadata.plugin_data
                if plugin.plugin_name != "hparams":
                    continue
                content = plugin_hparams_pb2.HParamsPluginData.FromString(
                    plugin.content
                )
                kind = content.WhichOneof("data")
                if kind == "experiment":
                    out["metrics"] = [
                        m.name.tag for m in content.experiment.metric_infos
                    ]
                elif kind == "session_start_info":
                    out["hparams"] = {
                        k: getattr(v, v.WhichOneof("kind"))
                        for k, v in content.session_start_info.hparams.items()
                    }
                elif kind == "session_end_info":
                    out["status"] = content.session_end_info.status
    return out


def _wandb_records(path: Path) -> list[bytes]:
    data = path.read_bytes()
    block, pos, chunk, out = 32768, 7, b"", []  # 7-byte file header ":W&B" ...
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if length == 0 and kind == 0:
            pos += left
            continue
        chunk += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # FULL or LAST
            out.append(chunk)
            chunk = b""
    return out


def wandb_run(path: Path) -> tuple[dict, list[dict]]:
    """The config and the logged history rows of a W&B offline `.wandb` file."""
    from wandb.proto import wandb_internal_pb2

    config, history = {}, []
    for raw in _wandb_records(path):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(raw)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            config.update(
                {i.key: json.loads(i.value_json) for i in record.run.config.update}
            )
        elif kind == "config":
            config.update(
                {i.key: json.loads(i.value_json) for i in record.config.update}
            )
        elif kind == "history":
            history.append(
                {
                    i.key or "/".join(i.nested_key): json.loads(i.value_json)
                    for i in record.history.item
                }
            )
    return config, history
