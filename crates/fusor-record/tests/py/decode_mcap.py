"""Decode every message of a ROS 2 MCAP with the independent Python readers and print JSON.

Usage: python decode_mcap.py FILE.mcap

Uses `mcap` (reader, CRC validation on) and `mcap-ros2-support` (`mcap_ros2.decoder`), which
parse the schema text embedded in the file: nothing here knows fusor's types. Prints one JSON
object: {"profile", "library", "messages": [{"topic", "schema", "schema_encoding",
"message_encoding", "log_time", "publish_time", "msg": {...}}]}. Byte arrays (uint8[]) are
reported as {"len", "crc32"} to keep the output small; everything else is dumped field by field.
"""

import json
import sys
import zlib

from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory


def plain(value):
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        return {"len": len(data), "crc32": zlib.crc32(data)}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    slots = getattr(value, "__slots__", None)
    if slots is not None:
        return {name: plain(getattr(value, name)) for name in slots}
    if hasattr(value, "__dict__"):
        return {k: plain(v) for k, v in vars(value).items() if not k.startswith("_")}
    return repr(value)


def main(path):
    out = {"messages": []}
    with open(path, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()], validate_crcs=True)
        header = reader.get_header()
        out["profile"] = header.profile
        out["library"] = header.library
        for schema, channel, message, decoded in reader.iter_decoded_messages(log_time_order=True):
            out["messages"].append(
                {
                    "topic": channel.topic,
                    "schema": schema.name,
                    "schema_encoding": schema.encoding,
                    "message_encoding": channel.message_encoding,
                    "log_time": message.log_time,
                    "publish_time": message.publish_time,
                    "msg": plain(decoded),
                }
            )
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
