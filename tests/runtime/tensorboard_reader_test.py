"""ltrt::TensorBoardLogger's event file, read by TensorBoard itself.

Runs tensorboard_writer_driver (a C++ program writing a known run) and checks:
- the file name, events.out.tfevents.<10 digits>.<hostname>.<pid>.0;
- with EventAccumulator (TensorBoard's reader, which checks every record's
  CRCs): file_version 2, every scalar tag, step and float32 value, wall times;
- with the HParams plugin's own handlers (what the HPARAMS tab asks for): the
  experiment's hparams and metrics, and the session's hparam values and
  hp_metric;
- event by event against torch.utils.tensorboard's SummaryWriter writing the
  same calls (what Lightning's TensorBoardLogger does), wall times aside.

Usage: tensorboard_reader_test.py --driver <tensorboard_writer_driver> --work <scratch dir>
"""

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import time

import numpy as np
from tensorboard.backend.event_processing import data_provider
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.backend.event_processing import event_file_loader
from tensorboard.backend.event_processing import plugin_event_multiplexer
from tensorboard import context as tb_context
from tensorboard.plugins import base_plugin
from tensorboard.plugins.hparams import api_pb2
from tensorboard.plugins.hparams import backend_context
from tensorboard.plugins.hparams import get_experiment
from tensorboard.plugins.hparams import list_session_groups
from tensorboard.plugins.hparams import metadata as hparams_metadata
from tensorboard.plugins.hparams import plugin_data_pb2

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print("FAIL:", what)


def f32(x):
    return float(np.float32(x))


# What the driver logs, computed here independently (same double arithmetic).
def expected_scalars():
    want = {"hp_metric": [(0, f32(-1))]}
    want["train_loss"] = [(s, f32(1.0 / (s + 1) + 0.5)) for s in range(0, 100, 10)]
    want["val_loss"], want["epoch"], want["lr-Adam"] = [], [], []
    for epoch in range(5):
        last = (epoch + 1) * 20 - 1
        want["val_loss"].append((last, f32(0.9 - 0.1 * epoch)))
        want["epoch"].append((last, f32(epoch)))
        lr = 0.001
        for _ in range(epoch):
            lr *= 0.5
        want["lr-Adam"].append((last, f32(lr)))
    want["dense"] = [(s, f32(s * 0.1 - 100.0)) for s in range(3000)]
    want["edge/zero"] = [(7, 0.0)]
    want["edge/neg"] = [(7, -3.5)]
    want["edge/tiny"] = [(7, f32(1e-30))]
    want["edge/big_step"] = [(1 << 40, f32(1e30))]
    want["edge/caf\u00e9"] = [(1, f32(0.1))]
    return want


# Lightning's flattened, sanitized hparams of the driver's spec, as torch's hparams() gets them.
HPARAMS = {
    "lr": 0.001,
    "batch_size": 32,
    "optimizer": "Adam",
    "amsgrad": False,
    "seed": "None",
    "model/hidden": "[64, 32]",
    "model/act": "relu",
    "model/dropout": 0.25,
}


def check_scalars(logdir, t0, t1):
    acc = event_accumulator.EventAccumulator(logdir, size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    check(acc.file_version == 2.0, f"file_version {acc.file_version!r}, want 2 (brain.Event:2)")
    check(acc.GetSourceWriter() == "ltrt", f"source writer {acc.GetSourceWriter()!r}")
    check(t0 - 1 <= acc.FirstEventTimestamp() <= t1 + 1, "first event's wall_time is not the run's time")
    want = expected_scalars()
    tags = sorted(acc.Tags()["scalars"])
    check(tags == sorted(want), f"scalar tags {tags}, want {sorted(want)}")
    for tag, points in want.items():
        if tag not in tags:
            continue
        got = [(e.step, e.value) for e in acc.Scalars(tag)]
        check(got == points, f"{tag}: got {got[:5]}... ({len(got)}), want {points[:5]}... ({len(points)})")
        bad_times = [e.wall_time for e in acc.Scalars(tag) if not t0 - 1 <= e.wall_time <= t1 + 1]
        check(not bad_times, f"{tag}: wall_time outside the run: {bad_times[:3]}")
    # The raw plugin data, as the accumulator keeps it.
    content = acc.PluginTagToContent(hparams_metadata.PLUGIN_NAME)
    check(
        sorted(content) == sorted([
            hparams_metadata.EXPERIMENT_TAG,
            hparams_metadata.SESSION_START_INFO_TAG,
            hparams_metadata.SESSION_END_INFO_TAG,
        ]),
        f"hparams plugin tags {sorted(content)}",
    )
    return acc


def check_hparams_plugin(logdir):
    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(logdir)
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, logdir)
    context = backend_context.Context(base_plugin.TBContext(logdir=logdir, data_provider=provider))
    request_context = tb_context.RequestContext()

    experiment = get_experiment.Handler(request_context, context, "", api_pb2.GetExperimentRequest()).run()
    got_infos = {h.name: api_pb2.DataType.Name(h.type) for h in experiment.hparam_infos}
    want_infos = {
        k: "DATA_TYPE_STRING" if isinstance(v, str) else "DATA_TYPE_FLOAT64" for k, v in HPARAMS.items()
    }
    check(got_infos == want_infos, f"experiment hparam_infos {got_infos}, want {want_infos}")
    got_metrics = [(m.name.group, m.name.tag) for m in experiment.metric_infos]
    check(got_metrics == [("", "hp_metric")], f"experiment metric_infos {got_metrics}")

    request = api_pb2.ListSessionGroupsRequest(
        start_index=0,
        slice_size=10,
        allowed_statuses=[
            api_pb2.STATUS_UNKNOWN,
            api_pb2.STATUS_SUCCESS,
            api_pb2.STATUS_FAILURE,
            api_pb2.STATUS_RUNNING,
        ],
    )
    for name in HPARAMS:
        request.col_params.add(hparam=name)
    request.col_params.add(metric=api_pb2.MetricName(tag="hp_metric"))
    groups = list_session_groups.Handler(request_context, context, "", request).run()
    check(len(groups.session_groups) == 1, f"{len(groups.session_groups)} session groups, want 1")
    if groups.session_groups:
        group = groups.session_groups[0]
        got = {}
        for k, v in group.hparams.items():
            got[k] = v.string_value if v.HasField("string_value") else v.number_value
        want = {k: (v if isinstance(v, str) else float(v)) for k, v in HPARAMS.items()}
        check(got == want, f"session hparams {got}, want {want}")
        metrics = {m.name.tag: (m.value, m.training_step) for m in group.metric_values}
        check(metrics == {"hp_metric": (-1.0, 0)}, f"session metric values {metrics}")
        sessions = [
            (s.status, s.end_time_secs) for s in group.sessions
        ]
        check(len(sessions) == 1, f"sessions {sessions}")


def normalized_events(path):
    """The file's events, wall times and source writer cleared, hparams plugin
    content re-serialized deterministically (protobuf's map order is not fixed)."""
    out = []
    for event in event_file_loader.LegacyEventFileLoader(path).Load():
        event.wall_time = 0
        event.ClearField("source_metadata")
        for value in event.summary.value:
            if value.metadata.plugin_data.plugin_name == hparams_metadata.PLUGIN_NAME:
                data = plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
                value.metadata.plugin_data.content = data.SerializeToString(deterministic=True)
        out.append(event)
    return out


def write_with_torch(logdir):
    """The driver's calls through torch.utils.tensorboard, as Lightning makes them."""
    from torch.utils.tensorboard import SummaryWriter
    from torch.utils.tensorboard.summary import hparams

    writer = SummaryWriter(log_dir=logdir)
    writer.add_scalar("hp_metric", -1, 0)  # log_hyperparams: log_metrics({"hp_metric": -1}, 0)
    exp, ssi, sei = hparams(HPARAMS, {"hp_metric": -1})
    for summary in (exp, ssi, sei):
        writer._get_file_writer().add_summary(summary)
    for epoch in range(5):
        for step in range(epoch * 20, (epoch + 1) * 20):
            if step % 10 == 0:
                writer.add_scalar("train_loss", 1.0 / (step + 1) + 0.5, step)
        last = (epoch + 1) * 20 - 1
        writer.add_scalar("val_loss", 0.9 - 0.1 * epoch, last)
        writer.add_scalar("epoch", epoch, last)
        lr = 0.001
        for _ in range(epoch):
            lr *= 0.5
        writer.add_scalar("lr-Adam", lr, last)
    for step in range(3000):
        writer.add_scalar("dense", step * 0.1 - 100.0, step)
    writer.add_scalar("edge/zero", 0.0, 7)
    writer.add_scalar("edge/neg", -3.5, 7)
    writer.add_scalar("edge/tiny", 1e-30, 7)
    writer.add_scalar("edge/big_step", 1e30, 1 << 40)
    writer.add_scalar("edge/caf\u00e9", 0.1, 1)
    writer.close()
    (name,) = [n for n in os.listdir(logdir) if n.startswith("events.out.tfevents.")]
    return os.path.join(logdir, name)


def check_against_torch(ours, work):
    theirs = write_with_torch(os.path.join(work, "torch"))
    a, b = normalized_events(ours), normalized_events(theirs)
    check(len(a) == len(b), f"{len(a)} events, torch's SummaryWriter writes {len(b)}")
    for k, (x, y) in enumerate(zip(a, b)):
        if x != y:
            check(False, f"event {k} differs from torch's:\n{x}\nvs\n{y}")
            break


def check_reader_catches_corruption(path, work):
    """The reader must notice a bad CRC, or this test could pass on a broken file."""
    bad_dir = os.path.join(work, "corrupt")
    os.makedirs(bad_dir)
    bad = os.path.join(bad_dir, os.path.basename(path))
    data = bytearray(open(path, "rb").read())
    data[-1] ^= 0x01  # the last record's data CRC
    open(bad, "wb").write(bytes(data))
    acc = event_accumulator.EventAccumulator(bad_dir, size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    check("edge/caf\u00e9" not in acc.Tags()["scalars"], "the reader accepted a record with a bad CRC")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--driver", required=True)
    parser.add_argument("--work", required=True)
    args = parser.parse_args()

    shutil.rmtree(args.work, ignore_errors=True)
    logdir = os.path.join(args.work, "lightning_logs", "version_0")
    t0 = time.time()
    run = subprocess.run([args.driver, logdir], capture_output=True, text=True)
    t1 = time.time()
    if run.returncode != 0:
        print(run.stdout, run.stderr)
        sys.exit(f"driver failed with exit code {run.returncode}")
    path = run.stdout.strip()

    names = sorted(os.listdir(logdir))
    check(names == sorted(["hparams.yaml", os.path.basename(path)]), f"files in the log dir: {names}")
    pattern = r"events\.out\.tfevents\.(\d{10})\.%s\.(\d+)\.0" % re.escape(socket.gethostname())
    match = re.fullmatch(pattern, os.path.basename(path))
    check(match is not None, f"file name {os.path.basename(path)!r} is not like {pattern!r}")
    if match:
        check(int(t0) - 1 <= int(match.group(1)) <= t1 + 1, "file name's time is not the run's")

    check_scalars(logdir, t0, t1)
    check_hparams_plugin(logdir)
    check_against_torch(path, args.work)
    check_reader_catches_corruption(path, args.work)

    if failures:
        sys.exit(f"{len(failures)} check(s) failed")
    print("tensorboard_reader_test: all checks passed")


if __name__ == "__main__":
    main()
