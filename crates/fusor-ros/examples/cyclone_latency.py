"""Publish -> receive latency and throughput of PointCloud2 over loopback with Eclipse Cyclone DDS
(PyPI `cyclonedds`): the reference for `cloud_latency.rs` (ros2-client / RustDDS). Same sweep,
topics, QoS, stamping and table.

    .venv/bin/python crates/fusor-ros/examples/cyclone_latency.py \\
        [--sizes 0.1,1,2,4] [--count 50] [--hz 10] [--qos reliable,best_effort] \\
        [--role both|pub|sub] [--domain D] [--label NAME] [--timeout S] [--json] [--rcvbuf]

`--role both` runs the subscriber as a second process (no shared GIL) and publishes from this
one; `pub` / `sub` run one side, so the other side can be `cloud_latency` (mixed pairs).
`--hz 0` publishes back to back. Latency is receive wall time minus the header stamp set just
before `write`, so the Python serialisation of the sample counts, as RustDDS's does.

The PointCloud2 type is ROS 2's (`sensor_msgs::msg::dds_::PointCloud2_`, as in
tests/py/ros2_peer.py), but `data` is (de)serialised as one `bytes` copy instead of element by
element; the CDR on the wire is byte-identical (4 MB: ~1 ms to serialise instead of ~250 ms).

Loopback only: Cyclone on `lo`, no multicast, 127.0.0.1 as the only peer (ros2_peer.py's
`LOOPBACK_XML`); Cyclone's other settings are its defaults unless `--rcvbuf`.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

LOOPBACK_XML = """<?xml version="1.0" encoding="UTF-8" ?>
<CycloneDDS xmlns="https://cdds.io/config">
  <Domain id="any">
    <General>
      <Interfaces><NetworkInterface name="lo"/></Interfaces>
      <AllowMulticast>false</AllowMulticast>
    </General>
    <Discovery>
      <Peers><Peer address="127.0.0.1"/></Peers>
      <ParticipantIndex>auto</ParticipantIndex>
      <MaxAutoParticipantIndex>20</MaxAutoParticipantIndex>
    </Discovery>
  </Domain>
</CycloneDDS>
"""

# `--rcvbuf`: ask for an 8 MiB socket receive buffer (the kernel caps it at 2 x rmem_max), the
# usual Cyclone advice for large messages, as RustDDS does by default; otherwise Cyclone's default.
RCVBUF_XML = """  <Domain id="any">
    <Internal><SocketReceiveBufferSize min="default" max="8MiB"/></Internal>
  </Domain>
</CycloneDDS>
"""

if "CYCLONEDDS_URI" not in os.environ or "cyclone-loopback-" not in os.environ["CYCLONEDDS_URI"]:
    # Must be set before the first participant is created.
    _xml = LOOPBACK_XML.replace("</CycloneDDS>\n", RCVBUF_XML) if "--rcvbuf" in sys.argv else LOOPBACK_XML
    _fd, _path = tempfile.mkstemp(prefix="cyclone-loopback-", suffix=".xml")
    with os.fdopen(_fd, "w") as _f:
        _f.write(_xml)
    os.environ["CYCLONEDDS_URI"] = "file://" + _path

from cyclonedds.core import Policy, Qos  # noqa: E402
from cyclonedds.domain import DomainParticipant  # noqa: E402
from cyclonedds.idl import IdlStruct  # noqa: E402
from cyclonedds.idl._machinery import BytesMachine  # noqa: E402
from cyclonedds.idl.types import int32, sequence, uint8, uint32  # noqa: E402
from cyclonedds.pub import DataWriter  # noqa: E402
from cyclonedds.sub import DataReader  # noqa: E402
from cyclonedds.topic import Topic  # noqa: E402
from cyclonedds.util import duration  # noqa: E402

WARMUP_FRAME = "warmup"
WARMUP_S = 1.0


@dataclass
class Time(IdlStruct, typename="builtin_interfaces::msg::dds_::Time_"):
    sec: int32 = 0
    nanosec: uint32 = 0


@dataclass
class Header(IdlStruct, typename="std_msgs::msg::dds_::Header_"):
    stamp: Time = field(default_factory=Time)
    frame_id: str = ""


@dataclass
class PointField(IdlStruct, typename="sensor_msgs::msg::dds_::PointField_"):
    name: str = ""
    offset: uint32 = 0
    datatype: uint8 = 0
    count: uint32 = 0


@dataclass
class PointCloud2(IdlStruct, typename="sensor_msgs::msg::dds_::PointCloud2_"):
    header: Header = field(default_factory=Header)
    height: uint32 = 0
    width: uint32 = 0
    fields: sequence[PointField] = field(default_factory=list)
    is_bigendian: bool = False
    point_step: uint32 = 0
    row_step: uint32 = 0
    data: sequence[uint8] = b""
    is_dense: bool = False


# `data` (de)serialised as one buffer copy: same CDR as the element-wise packer (uint32 length,
# then the bytes), which takes ~250 ms for 4 MB. The type object still says sequence<uint8>.
PointCloud2.__idl__.populate()
for _machine in (PointCloud2.__idl__.v1_machine, PointCloud2.__idl__.v2_machine):
    if hasattr(_machine, "members_machines"):
        _machine.members_machines["data"] = BytesMachine()


def qos_for(kind):
    # The same as fusor's qos::reliable() / qos::sensor_data().
    if kind == "reliable":
        return Qos(
            Policy.Reliability.Reliable(duration(milliseconds=100)),
            Policy.Durability.Volatile,
            Policy.History.KeepLast(10),
            Policy.DataRepresentation(use_cdrv0_representation=True),
        )
    return Qos(
        Policy.Reliability.BestEffort,
        Policy.Durability.Volatile,
        Policy.History.KeepLast(5),
        Policy.DataRepresentation(use_cdrv0_representation=True),
    )


def cases(args):
    return [(q, mb) for q in args.qos for mb in args.sizes]


def topic_name(q, mb):
    return f"rt/bench/cloud_{q}_{round(mb * 1000)}kb"


def cloud(nbytes):
    width = nbytes // 16
    fields = [PointField(name=n, offset=4 * i, datatype=7, count=1) for i, n in enumerate(["x", "y", "z", "intensity"])]
    data = bytes(i % 256 for i in range(256)) * (width * 16 // 256) + bytes(i % 256 for i in range(width * 16 % 256))
    return PointCloud2(
        header=Header(frame_id=WARMUP_FRAME),
        height=1,
        width=width,
        fields=fields,
        point_step=16,
        row_step=16 * width,
        data=data,
        is_dense=True,
    )


def stamp_now():
    t = time.time_ns()
    return Time(sec=t // 1_000_000_000, nanosec=t % 1_000_000_000)


def run_pub(args):
    dp = DomainParticipant(args.domain)
    for q, mb in cases(args):
        writer = DataWriter(dp, Topic(dp, topic_name(q, mb), PointCloud2), qos=qos_for(q))
        deadline = time.monotonic() + 20
        while writer.get_publication_matched_status().current_count == 0:
            if time.monotonic() > deadline:
                print(f"{topic_name(q, mb)}: no subscriber matched", file=sys.stderr)
                return 1
            time.sleep(0.01)
        msg = cloud(int(mb * 1e6) // 16 * 16)
        warm_end = time.monotonic() + WARMUP_S
        while time.monotonic() < warm_end:
            msg.header = Header(stamp=stamp_now(), frame_id=WARMUP_FRAME)
            try:
                writer.write(msg)
            except Exception:  # reliable history full: harmless during warm-up
                pass
            time.sleep(0.1)
        period = 1.0 / args.hz if args.hz > 0 else 0.0
        nxt = time.monotonic()
        failed = 0
        for i in range(args.count):
            wait = nxt - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            nxt += period
            msg.header = Header(stamp=stamp_now(), frame_id=f"m{i}")
            try:
                writer.write(msg)
            except Exception:
                failed += 1
        if failed:
            print(f"{q} {mb}: {failed}/{args.count} writes failed", file=sys.stderr)
        time.sleep(1.5)  # keep the writer alive while reliable repairs finish
        del writer
    return 0


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    return sorted_values[round((len(sorted_values) - 1) * p)]


def run_sub(args):
    dp = DomainParticipant(args.domain)
    plan = cases(args)
    readers = [DataReader(dp, Topic(dp, topic_name(q, mb), PointCloud2), qos=qos_for(q)) for q, mb in plan]
    got = [{"lat": [], "bytes": 0, "first": None, "last": 0} for _ in plan]
    start = time.monotonic()
    last_data = None
    print("ready", file=sys.stderr, flush=True)
    while True:
        any_data = False
        for reader, g in zip(readers, got):
            for m in reader.take(N=16):
                if not isinstance(m, PointCloud2):  # InvalidSample: a writer went away
                    continue
                any_data = True
                if not m.header.frame_id.startswith("m"):
                    continue
                recv = time.time_ns()
                sent = m.header.stamp.sec * 1_000_000_000 + m.header.stamp.nanosec
                g["lat"].append((recv - sent) / 1e6)
                g["bytes"] += len(m.data)
                g["first"] = sent if g["first"] is None else min(g["first"], sent)
                g["last"] = recv
        if any_data:
            last_data = time.monotonic()
        if all(len(g["lat"]) >= args.count for g in got):
            break
        if last_data is not None and time.monotonic() - last_data > 8:
            break
        if time.monotonic() - start > args.timeout:
            break
        if not any_data:
            time.sleep(0.0001)
    rows = []
    for (q, mb), g in zip(plan, got):
        lat = sorted(g["lat"])
        span = (g["last"] - g["first"]) / 1e9 if g["first"] is not None else float("nan")
        rows.append({
            "label": args.label or "?->Cyclone", "qos": q, "mb": mb, "count": args.count, "hz": args.hz,
            "delivered": len(lat), "p50_ms": percentile(lat, 0.5), "p90_ms": percentile(lat, 0.9),
            "p99_ms": percentile(lat, 0.99), "max_ms": lat[-1] if lat else float("nan"),
            "mb_per_s": g["bytes"] / 1e6 / span if span and span == span else float("nan"),
        })
    if args.json:
        print(json.dumps(rows))
    else:
        print(f"{'pair':<26} {'qos':<12} {'MB':>5} {'Hz':>5} {'delivered':>9} {'p50 ms':>8} {'p90 ms':>8} "
              f"{'p99 ms':>8} {'max ms':>8} {'MB/s':>8}")
        for r in rows:
            print(f"{r['label']:<26} {r['qos']:<12} {r['mb']:>5} {r['hz']:>5} "
                  f"{str(r['delivered']) + '/' + str(r['count']):>9} {r['p50_ms']:>8.2f} {r['p90_ms']:>8.2f} "
                  f"{r['p99_ms']:>8.2f} {r['max_ms']:>8.2f} {r['mb_per_s']:>8.1f}")
    sys.stdout.flush()
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", type=lambda s: [float(x) for x in s.split(",")], default=[0.1, 1.0, 2.0, 4.0])
    p.add_argument("--count", type=int, default=50)
    p.add_argument("--hz", type=float, default=10.0)
    p.add_argument("--qos", type=lambda s: s.split(","), default=["reliable", "best_effort"])
    p.add_argument("--role", choices=["both", "pub", "sub"], default="both")
    p.add_argument("--domain", type=int, default=1 + os.getpid() % 100)
    p.add_argument("--label", default=None)
    p.add_argument("--timeout", type=float, default=180.0)
    p.add_argument("--json", action="store_true")
    p.add_argument("--rcvbuf", action="store_true", help="8 MiB socket receive buffer (else Cyclone's default)")
    args = p.parse_args()
    for q in args.qos:
        if q not in ("reliable", "best_effort"):
            p.error(f"unknown QoS {q}")
    if args.role == "pub":
        return run_pub(args)
    if args.role == "sub":
        return run_sub(args)
    # both: subscriber in a child process, publisher here.
    argv = [sys.executable, os.path.abspath(__file__), "--role", "sub", "--domain", str(args.domain),
            "--sizes", ",".join(str(s) for s in args.sizes), "--count", str(args.count), "--hz", str(args.hz),
            "--qos", ",".join(args.qos), "--timeout", str(args.timeout), "--label", args.label or "Cyclone->Cyclone"]
    argv += ["--json"] if args.json else []
    argv += ["--rcvbuf"] if args.rcvbuf else []
    child = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    child.stderr.readline()  # "ready": readers exist
    rc = run_pub(args)
    child.wait(timeout=args.timeout)
    sys.stderr.write(child.stderr.read())
    return rc or child.returncode


if __name__ == "__main__":
    sys.exit(main())
