#!/usr/bin/env python3
"""Keeps every K-th frame of a cyplam data set (frames.npy, labels.npy, tracks.npy), in place.

    bench/halving/thin.py DIR K        # DIR holds the three files, e.g. data/validation

`cyplam data synth` makes recordings (tracks) of 250 to 1,500 consecutive frames, and frames next to
each other in a track are nearly the same picture. Thinning keeps every track (so Accuracy20% is
still decided by many recordings) while the validation pass, which runs at every snapshot over the
whole set, gets K times cheaper. Standard library only; reads and writes NumPy format 1.0/2.0 files
in C order, as `cyplam data synth` writes them.
"""
import ast
import os
import struct
import sys


def read_npy(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:6] != b"\x93NUMPY":
        raise SystemExit(f"{path}: not a .npy file")
    major = data[6]
    if major == 1:
        (hlen,) = struct.unpack("<H", data[8:10])
        start = 10
    else:
        (hlen,) = struct.unpack("<I", data[8:12])
        start = 12
    header = ast.literal_eval(data[start:start + hlen].decode("latin1"))
    if header["fortran_order"]:
        raise SystemExit(f"{path}: Fortran order is not supported")
    return header, data[start + hlen:]


def write_npy(path, header, body):
    text = "{'descr': %r, 'fortran_order': False, 'shape': %s, }" % (header["descr"], repr(tuple(header["shape"])))
    # Format 1.0: magic (6) + version (2) + length (2) + header, padded with spaces to a multiple of 64, ending in \n.
    pad = 64 - (10 + len(text) + 1) % 64
    text = text + " " * (pad % 64) + "\n"
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin1") + body)
    os.replace(tmp, path)


def itemsize(descr):
    return int(descr.lstrip("<>|=")[1:])


def main():
    if len(sys.argv) != 3 or sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        sys.exit(0 if len(sys.argv) == 2 else 2)
    folder, k = sys.argv[1], int(sys.argv[2])
    if k < 1:
        raise SystemExit("K must be >= 1")
    n_seen = None
    for name in ("frames.npy", "labels.npy", "tracks.npy"):
        path = os.path.join(folder, name)
        if not os.path.exists(path):
            if name == "tracks.npy":
                continue
            raise SystemExit(f"{path}: missing")
        header, body = read_npy(path)
        shape = list(header["shape"])
        n = shape[0]
        if n_seen is not None and n != n_seen:
            raise SystemExit(f"{path}: {n} rows, but frames.npy has {n_seen}")
        n_seen = n
        row = itemsize(header["descr"])
        for d in shape[1:]:
            row *= d
        if len(body) < n * row:
            raise SystemExit(f"{path}: truncated")
        kept = b"".join(body[i * row:(i + 1) * row] for i in range(0, n, k))
        shape[0] = (n + k - 1) // k
        header["shape"] = shape
        write_npy(path, header, kept)
    print(f"{folder}: kept every {k}th of {n_seen} frames: {(n_seen + k - 1) // k}")


if __name__ == "__main__":
    main()
