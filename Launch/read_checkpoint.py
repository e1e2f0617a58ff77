#!/usr/bin/env python3
"""Reads a vae-mpi checkpoint (format version 2) from docs/checkpoint-format.md alone.

Standard library only. Usage:
    read_checkpoint.py FILE          summary: state, configuration, one line per tensor
    read_checkpoint.py FILE --dump   JSON: configuration, state, world (the circles' factors),
                                     every tensor's shape and values
Exits 1 with a one-line error for a file that does not follow the spec.
"""
import json
import math
import struct
import sys
import zlib

MAGIC = b"VAEMPICK"
VERSION = 2
PREFIX = 20
MAX_HEADER = 1 << 20


class FormatError(Exception):
    pass


def read(path):
    """(header dict, {name: (shape, [floats])}) after checking everything the spec requires."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < PREFIX or data[:8] != MAGIC:
        raise FormatError("not a vae-mpi checkpoint")
    version, header_length = struct.unpack_from("<IQ", data, 8)
    if version != VERSION:
        raise FormatError(f"unsupported format version {version}")
    if header_length > MAX_HEADER or PREFIX + header_length > len(data):
        raise FormatError(f"bad header length {header_length}")
    header = json.loads(data[PREFIX:PREFIX + header_length].decode("utf-8"))
    data_start = PREFIX + header_length
    table = sorted(header["tensors"], key=lambda t: t["offset"])
    cursor = 0
    for t in table:
        if t["dtype"] != "F32":
            raise FormatError(f"tensor {t['name']}: dtype {t['dtype']}")
        if t["offset"] != cursor or t["length"] != 4 * math.prod(t["shape"]):
            raise FormatError(f"tensor {t['name']}: not contiguous or wrong length")
        cursor += t["length"]
    if len(data) != data_start + cursor + 4:
        raise FormatError(f"expected {data_start + cursor + 4} bytes, found {len(data)}")
    (stored,) = struct.unpack_from("<I", data, len(data) - 4)
    if zlib.crc32(data[:-4]) != stored:
        raise FormatError("checksum mismatch")
    tensors = {}
    for t in header["tensors"]:
        count = t["length"] // 4
        values = struct.unpack_from(f"<{count}f", data, data_start + t["offset"])
        tensors[t["name"]] = (t["shape"], list(values))
    return header, tensors


def world(configuration):
    """The circles' factors from the configuration's optional keys (absent: a fixed radius, full
    intensity): {"radius": [min, max], "intensity": [min, max], "factors": names that vary}."""
    images = configuration["images"]
    radius = [images["radius"], images.get("maxRadius", images["radius"])]
    low = images.get("intensity", 1)
    intensity = [low, images.get("maxIntensity", low)]
    factors = ["x", "y"] + [name for name, (a, b) in (("radius", radius), ("intensity", intensity)) if b > a]
    return {"radius": radius, "intensity": intensity, "factors": factors}


def main(argv):
    if len(argv) not in (2, 3) or (len(argv) == 3 and argv[2] != "--dump"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    path = argv[1]
    try:
        header, tensors = read(path)
    except (OSError, ValueError, KeyError, TypeError, struct.error, FormatError) as error:
        print(f"{path}: {error}", file=sys.stderr)
        return 1
    if len(argv) == 3:
        json.dump({"configuration": header["configuration"], "state": header["state"],
                   "world": world(header["configuration"]),
                   "tensors": {name: {"shape": shape, "values": values}
                               for name, (shape, values) in tensors.items()}}, sys.stdout)
        print()
        return 0
    state = header["state"]
    print(f"step {state['step']}, epoch {state['epoch']}, "
          f"Adam step count {state['adam_step_count']}")
    print("configuration:", json.dumps(header["configuration"], sort_keys=True))
    w = world(header["configuration"])
    span = lambda r: f"{r[0]:g}" if r[0] == r[1] else f"{r[0]:g}-{r[1]:g}"
    print(f"world: radius {span(w['radius'])} px, intensity {span(w['intensity'])}; "
          f"factors {', '.join(w['factors'])}")
    for name, (shape, values) in tensors.items():
        mean = sum(values) / len(values) if values else 0.0
        print(f"{name:40s} {str(shape):14s} mean {mean: .6g}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
