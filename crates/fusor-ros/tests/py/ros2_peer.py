"""An independent ROS 2 DDS peer for fusor's interop tests: Eclipse Cyclone DDS (PyPI
`cyclonedds`), no ROS, no Rust. The IDL types below are written from the ROS 2 message
definitions (Jazzy; vision_msgs 4.x) with ROS 2's DDS naming (`pkg::msg::dds_::Type_`, topics
`rt/...`).

Loopback only: Cyclone is configured for the `lo` interface, no multicast, 127.0.0.1 as the only
peer.

    ros2_peer.py sub-obstacles --domain D --timeout S   # print the first Detection3DArray as JSON
    ros2_peer.py pub-navsatfix --domain D --count N     # publish N NavSatFix on /sensing/gnss/fix
"""

import argparse
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


def configure_loopback():
    # Must be set before the first participant is created.
    fd, path = tempfile.mkstemp(prefix="cyclone-loopback-", suffix=".xml")
    with os.fdopen(fd, "w") as f:
        f.write(LOOPBACK_XML)
    os.environ["CYCLONEDDS_URI"] = "file://" + path
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


def latched_qos():
    # TRANSIENT_LOCAL on both sides: nothing is lost to the race right after matching.
    return Qos(
        Policy.Reliability.Reliable(duration(seconds=1)),
        Policy.Durability.TransientLocal,
        Policy.History.KeepLast(10),
        Policy.DataRepresentation(use_cdrv0_representation=True),
    )


def sub_obstacles(args):
    dp = DomainParticipant(args.domain)
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
    dp = DomainParticipant(args.domain)
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


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["sub-obstacles", "pub-navsatfix"])
    p.add_argument("--domain", type=int, required=True)
    p.add_argument("--timeout", type=float, default=15.0)
    p.add_argument("--count", type=int, default=3)
    p.add_argument("--linger", type=float, default=10.0)
    args = p.parse_args()
    if args.mode == "sub-obstacles":
        return sub_obstacles(args)
    return pub_navsatfix(args)


if __name__ == "__main__":
    sys.exit(main())
