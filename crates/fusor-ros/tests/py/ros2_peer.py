"""An independent ROS 2 DDS peer for fusor's interop tests: Eclipse Cyclone DDS (PyPI
`cyclonedds`), no ROS, no Rust. The IDL types below are written from the ROS 2 message
definitions (Jazzy; vision_msgs 4.x) with ROS 2's DDS naming (`pkg::msg::dds_::Type_`, topics
`rt/...`).

Loopback only: Cyclone is configured for the `lo` interface, no multicast, 127.0.0.1 as the only
peer.

    ros2_peer.py sub-obstacles --domain D --timeout S   # print the first Detection3DArray as JSON
    ros2_peer.py pub-navsatfix --domain D --count N     # publish N NavSatFix on /sensing/gnss/fix
    ros2_peer.py sub-outputs --domain D --timeout S     # what `fusor node` publishes, as one JSON
    ros2_peer.py pub-sensors --domain D --count N       # N NavSatFix, PointCloud2 and Image each
"""

import argparse
import atexit
import json
import os
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


def remove_config():
    uri = os.environ.get("CYCLONEDDS_URI", "")
    path = uri[len("file://"):] if uri.startswith("file://") else ""
    if "cyclone-loopback-" in path and os.path.exists(path):
        os.remove(path)


def configure_loopback():
    # Must be set before the first participant is created.
    fd, path = tempfile.mkstemp(prefix="cyclone-loopback-", suffix=".xml")
    with os.fdopen(fd, "w") as f:
        f.write(LOOPBACK_XML)
    os.environ["CYCLONEDDS_URI"] = "file://" + path
    # Cyclone reads it when the first participant is created (see `participant`); removed then,
    # and at exit if no participant was made.
    atexit.register(remove_config)
    return path


configure_loopback()

from cyclonedds.core import Policy, Qos  # noqa: E402
from cyclonedds.domain import DomainParticipant  # noqa: E402
from cyclonedds.idl import IdlStruct  # noqa: E402
from cyclonedds.idl.types import array, float32, float64, int8, int32, sequence, uint8, uint16, uint32  # noqa: E402,F401
from cyclonedds.pub import DataWriter  # noqa: E402
from cyclonedds.sub import DataReader  # noqa: E402
from cyclonedds.topic import Topic  # noqa: E402
from cyclonedds.util import duration  # noqa: E402


def participant(domain):
    """The process's one participant, on the loopback configuration. Cyclone reads the file when
    the domain is first created, so it is removed afterwards (a SIGKILLed peer leaves nothing in
    /tmp). Create every participant of a process through here, before any other."""
    dp = DomainParticipant(domain)
    remove_config()
    return dp


@dataclass
class Time(IdlStruct, typename="builtin_interfaces::msg::dds_::Time_"):
    sec: int32 = 0
    nanosec: uint32 = 0


@dataclass
class Header(IdlStruct, typename="std_msgs::msg::dds_::Header_"):
    stamp: Time = field(default_factory=Time)
    frame_id: str = ""


@dataclass
class Point(IdlStruct, typename="geometry_msgs::msg::dds_::Point_"):
    x: float64 = 0.0
    y: float64 = 0.0
    z: float64 = 0.0


@dataclass
class Quaternion(IdlStruct, typename="geometry_msgs::msg::dds_::Quaternion_"):
    x: float64 = 0.0
    y: float64 = 0.0
    z: float64 = 0.0
    w: float64 = 1.0


@dataclass
class Vector3(IdlStruct, typename="geometry_msgs::msg::dds_::Vector3_"):
    x: float64 = 0.0
    y: float64 = 0.0
    z: float64 = 0.0


@dataclass
class Pose(IdlStruct, typename="geometry_msgs::msg::dds_::Pose_"):
    position: Point = field(default_factory=Point)
    orientation: Quaternion = field(default_factory=Quaternion)


@dataclass
class PoseWithCovariance(IdlStruct, typename="geometry_msgs::msg::dds_::PoseWithCovariance_"):
    pose: Pose = field(default_factory=Pose)
    covariance: array[float64, 36] = field(default_factory=lambda: [0.0] * 36)


@dataclass
class ObjectHypothesis(IdlStruct, typename="vision_msgs::msg::dds_::ObjectHypothesis_"):
    class_id: str = ""
    score: float64 = 0.0


@dataclass
class ObjectHypothesisWithPose(IdlStruct, typename="vision_msgs::msg::dds_::ObjectHypothesisWithPose_"):
    hypothesis: ObjectHypothesis = field(default_factory=ObjectHypothesis)
    pose: PoseWithCovariance = field(default_factory=PoseWithCovariance)


@dataclass
class BoundingBox3D(IdlStruct, typename="vision_msgs::msg::dds_::BoundingBox3D_"):
    center: Pose = field(default_factory=Pose)
    size: Vector3 = field(default_factory=Vector3)


@dataclass
class Detection3D(IdlStruct, typename="vision_msgs::msg::dds_::Detection3D_"):
    header: Header = field(default_factory=Header)
    results: sequence[ObjectHypothesisWithPose] = field(default_factory=list)
    bbox: BoundingBox3D = field(default_factory=BoundingBox3D)
    id: str = ""


@dataclass
class Detection3DArray(IdlStruct, typename="vision_msgs::msg::dds_::Detection3DArray_"):
    header: Header = field(default_factory=Header)
    detections: sequence[Detection3D] = field(default_factory=list)


@dataclass
class NavSatStatus(IdlStruct, typename="sensor_msgs::msg::dds_::NavSatStatus_"):
    status: int8 = 0
    service: uint16 = 0


@dataclass
class NavSatFix(IdlStruct, typename="sensor_msgs::msg::dds_::NavSatFix_"):
    header: Header = field(default_factory=Header)
    status: NavSatStatus = field(default_factory=NavSatStatus)
    latitude: float64 = 0.0
    longitude: float64 = 0.0
    altitude: float64 = 0.0
    position_covariance: array[float64, 9] = field(default_factory=lambda: [0.0] * 9)
    position_covariance_type: uint8 = 0


@dataclass
class PoseStamped(IdlStruct, typename="geometry_msgs::msg::dds_::PoseStamped_"):
    header: Header = field(default_factory=Header)
    pose: Pose = field(default_factory=Pose)


@dataclass
class Path(IdlStruct, typename="nav_msgs::msg::dds_::Path_"):
    header: Header = field(default_factory=Header)
    poses: sequence[PoseStamped] = field(default_factory=list)


@dataclass
class KeyValue(IdlStruct, typename="diagnostic_msgs::msg::dds_::KeyValue_"):
    key: str = ""
    value: str = ""


@dataclass
class DiagnosticStatus(IdlStruct, typename="diagnostic_msgs::msg::dds_::DiagnosticStatus_"):
    # ROS 2 `byte level` is an IDL octet: one unsigned byte on the wire.
    level: uint8 = 0
    name: str = ""
    message: str = ""
    hardware_id: str = ""
    values: sequence[KeyValue] = field(default_factory=list)


@dataclass
class DiagnosticArray(IdlStruct, typename="diagnostic_msgs::msg::dds_::DiagnosticArray_"):
    header: Header = field(default_factory=Header)
    status: sequence[DiagnosticStatus] = field(default_factory=list)


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
    data: sequence[uint8] = field(default_factory=list)
    is_dense: bool = False


@dataclass
class Image(IdlStruct, typename="sensor_msgs::msg::dds_::Image_"):
    header: Header = field(default_factory=Header)
    height: uint32 = 0
    width: uint32 = 0
    encoding: str = ""
    is_bigendian: uint8 = 0
    step: uint32 = 0
    data: sequence[uint8] = field(default_factory=list)


def latched_qos():
    # TRANSIENT_LOCAL on both sides: nothing is lost to the race right after matching.
    return Qos(
        Policy.Reliability.Reliable(duration(seconds=1)),
        Policy.Durability.TransientLocal,
        Policy.History.KeepLast(10),
        Policy.DataRepresentation(use_cdrv0_representation=True),
    )


def sub_obstacles(args):
    dp = participant(args.domain)
    topic = Topic(dp, "rt/perception/obstacles", Detection3DArray)
    reader = DataReader(dp, topic, qos=latched_qos())
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        for msg in reader.take(N=10):
            out = {
                "frame_id": msg.header.frame_id,
                "stamp": [msg.header.stamp.sec, msg.header.stamp.nanosec],
                "detections": [
                    {
                        "id": d.id,
                        "frame_id": d.header.frame_id,
                        "classes": [[r.hypothesis.class_id, r.hypothesis.score] for r in d.results],
                        "center": [d.bbox.center.position.x, d.bbox.center.position.y, d.bbox.center.position.z],
                        "size": [d.bbox.size.x, d.bbox.size.y, d.bbox.size.z],
                    }
                    for d in msg.detections
                ],
            }
            print(json.dumps(out), flush=True)
            return 0
        time.sleep(0.01)
    print("timeout: no Detection3DArray received", file=sys.stderr)
    return 1


def pub_navsatfix(args):
    dp = participant(args.domain)
    topic = Topic(dp, "rt/sensing/gnss/fix", NavSatFix)
    writer = DataWriter(dp, topic, qos=latched_qos())
    # Write once fusor's reader is matched, so delivery does not hinge on the transient-local
    # history reaching a late joiner (seen to deliver only the last sample under heavy load).
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        try:
            if writer.get_publication_matched_status().current_count > 0:
                break
        except Exception:  # older binding without the status call: fall back to a fixed wait
            time.sleep(2.0)
            break
        time.sleep(0.02)
    time.sleep(0.2)
    for i in range(args.count):
        msg = NavSatFix(
            header=Header(stamp=Time(sec=1_700_000_000 + i, nanosec=250_000_000), frame_id="gnss"),
            status=NavSatStatus(status=0, service=1),
            latitude=48.137 + i * 1e-5,
            longitude=11.575,
            altitude=519.5,
            position_covariance=[0.25, 0, 0, 0, 0.25, 0, 0, 0, 1.0],
            position_covariance_type=2,
        )
        writer.write(msg)
    # Stay up (transient-local history served to late joiners) until told or timed out.
    time.sleep(args.linger)
    return 0


def reliable_qos(depth=100):
    # What fusor's `qos::reliable()` offers: reliable, volatile.
    return Qos(
        Policy.Reliability.Reliable(duration(seconds=1)),
        Policy.Durability.Volatile,
        Policy.History.KeepLast(depth),
        Policy.DataRepresentation(use_cdrv0_representation=True),
    )


def wait_matched(entity, deadline, status):
    while time.monotonic() < deadline:
        try:
            if getattr(entity, status)().current_count > 0:
                return True
        except Exception:  # older binding without the status call: fall back to a fixed wait
            time.sleep(2.0)
            return True
        time.sleep(0.02)
    return False


def sub_outputs(args):
    """Collects /perception/obstacles, /planning/route and /diagnostics until --timeout, or until
    --idle seconds pass without a new obstacle array after the first; prints one JSON object."""
    dp = participant(args.domain)
    obstacles = DataReader(dp, Topic(dp, "rt/perception/obstacles", Detection3DArray), qos=reliable_qos())
    route = DataReader(dp, Topic(dp, "rt/planning/route", Path), qos=latched_qos())
    diagnostics = DataReader(dp, Topic(dp, "rt/diagnostics", DiagnosticArray), qos=reliable_qos())
    deadline = time.monotonic() + args.timeout
    matched = wait_matched(obstacles, deadline, "get_subscription_matched_status")
    print("ready" if matched else "not matched", file=sys.stderr, flush=True)
    out = {"obstacles": [], "routes": [], "diagnostics": {}, "diagnostics_arrays": 0}
    last_obstacle = None
    while time.monotonic() < deadline:
        got = False
        for msg in obstacles.take(N=100):
            got = True
            last_obstacle = time.monotonic()
            out["obstacles"].append({
                "frame_id": msg.header.frame_id,
                "stamp": [msg.header.stamp.sec, msg.header.stamp.nanosec],
                "boxes": [
                    {
                        "frame_id": d.header.frame_id,
                        "class": d.results[0].hypothesis.class_id if d.results else "",
                        "center": [d.bbox.center.position.x, d.bbox.center.position.y, d.bbox.center.position.z],
                        "size": [d.bbox.size.x, d.bbox.size.y, d.bbox.size.z],
                    }
                    for d in msg.detections
                ],
            })
        for msg in route.take(N=10):
            got = True
            poses = [[p.pose.position.x, p.pose.position.y, p.pose.position.z] for p in msg.poses]
            out["routes"].append({
                "frame_id": msg.header.frame_id,
                "poses": len(poses),
                "pose_frame_id": msg.poses[0].header.frame_id if msg.poses else "",
                "first": poses[0] if poses else None,
                "last": poses[-1] if poses else None,
            })
        for msg in diagnostics.take(N=100):
            got = True
            out["diagnostics_arrays"] += 1
            for st in msg.status:
                # The latest status of each name wins.
                out["diagnostics"][st.name] = {
                    "level": int(st.level),
                    "message": st.message,
                    "values": {kv.key: kv.value for kv in st.values},
                }
        if last_obstacle is not None and time.monotonic() - last_obstacle > args.idle:
            break
        if not got:
            time.sleep(0.01)
    print(json.dumps(out), flush=True)
    return 0


def pub_sensors(args):
    """Publishes --count NavSatFix, PointCloud2 and Image each on fusor's default sensor topics,
    once each writer is matched."""
    dp = participant(args.domain)
    qos = reliable_qos(10)
    fix_w = DataWriter(dp, Topic(dp, "rt/sensing/gnss/fix", NavSatFix), qos=qos)
    cloud_w = DataWriter(dp, Topic(dp, "rt/sensing/lidar/points", PointCloud2), qos=qos)
    image_w = DataWriter(dp, Topic(dp, "rt/sensing/camera/front/image_raw", Image), qos=qos)
    deadline = time.monotonic() + args.timeout
    matched = all(wait_matched(w, deadline, "get_publication_matched_status") for w in (fix_w, cloud_w, image_w))
    print("matched" if matched else "not matched", file=sys.stderr, flush=True)
    time.sleep(0.2)
    width = 256
    fields = [PointField(name=n, offset=4 * i, datatype=7, count=1) for i, n in enumerate(["x", "y", "z", "intensity"])]
    for i in range(args.count):
        stamp = Time(sec=1_700_000_000 + i, nanosec=0)
        fix_w.write(NavSatFix(
            header=Header(stamp=stamp, frame_id="gnss"),
            status=NavSatStatus(status=0, service=1),
            latitude=48.137 + i * 1e-5,
            longitude=11.575,
            altitude=519.5,
            position_covariance=[0.25, 0, 0, 0, 0.25, 0, 0, 0, 1.0],
            position_covariance_type=2,
        ))
        cloud_w.write(PointCloud2(
            header=Header(stamp=stamp, frame_id="lidar"),
            height=1,
            width=width,
            fields=fields,
            is_bigendian=False,
            point_step=16,
            row_step=16 * width,
            data=[(j * 7 + i) % 256 for j in range(16 * width)],
            is_dense=True,
        ))
        image_w.write(Image(
            header=Header(stamp=stamp, frame_id="camera_front"),
            height=24,
            width=32,
            encoding="rgb8",
            is_bigendian=0,
            step=96,
            data=[(j + i) % 256 for j in range(96 * 24)],
        ))
        time.sleep(0.1)
    time.sleep(args.linger)
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["sub-obstacles", "pub-navsatfix", "sub-outputs", "pub-sensors"])
    p.add_argument("--domain", type=int, required=True)
    p.add_argument("--timeout", type=float, default=15.0)
    p.add_argument("--count", type=int, default=3)
    p.add_argument("--linger", type=float, default=10.0)
    p.add_argument("--idle", type=float, default=4.0)
    args = p.parse_args()
    if args.mode == "sub-obstacles":
        return sub_obstacles(args)
    if args.mode == "sub-outputs":
        return sub_outputs(args)
    if args.mode == "pub-sensors":
        return pub_sensors(args)
    return pub_navsatfix(args)


if __name__ == "__main__":
    sys.exit(main())
