"""Writes an HDF5 file of the ConvLMD layout with PyTables itself: a table at /df whose rows hold
`image` (a frame), `power`, `velocity` and `id_recording`, as the lab's data set does. Optionally
writes what cyplam should import from it (frames cropped with numpy as the lab's code crops them,
labels, tracks) as .npy files to compare against. Used by tests/it/convlmd.rs and
bench/convlmd-memory.

    python3 convlmd_fixture.py '{"path": "x.hdf5", "rows": 1000, ...}'   (or a list of such)

Keys (all but path and rows optional): image_dtype (uint8), side (32), power_dtype, velocity_dtype
and id_dtype (float64, float64, int64), first_id (0), frames_per_track (500), seed (1), node
("df"), node_kind ("table", "group", "array", "soft-dangling": a soft link to /missing, or
"external-dangling": an external link to gone.h5:/df), drop (a field left out), complib (None,
"zlib"), image_fill (every pixel this value), bad ({"row": R, "field": F, "value": V}: one value
replaced), expected (a directory), chunk.
"""

import json
import os
import sys

import numpy as np
import tables

def write(spec):
    path, rows = spec["path"], spec["rows"]
    image_dtype = np.dtype(spec.get("image_dtype", "uint8"))
    side = spec.get("side", 32)
    first_id = spec.get("first_id", 0)
    per_track = spec.get("frames_per_track", 500)
    chunk = spec.get("chunk", 20000)
    node = spec.get("node", "df")
    kind = spec.get("node_kind", "table")
    rng = np.random.default_rng(spec.get("seed", 1))

    fields = [
        ("image", image_dtype, (side, side)),
        ("power", np.dtype(spec.get("power_dtype", "float64"))),
        ("velocity", np.dtype(spec.get("velocity_dtype", "float64"))),
        ("id_recording", np.dtype(spec.get("id_dtype", "int64"))),
    ]
    fields = [f for f in fields if f[0] != spec.get("drop")]
    dtype = np.dtype(fields)

    h5 = tables.open_file(path, "w")
    if kind == "group":
        h5.create_group("/", node)
        h5.close()
        return
    if kind == "array":
        h5.create_array("/", node, np.zeros((3, 3)))
        h5.close()
        return
    if kind == "soft-dangling":
        h5.create_soft_link("/", node, "/missing")
        h5.close()
        return
    if kind == "external-dangling":
        h5.create_external_link("/", node, "gone.h5:/df")
        h5.close()
        return
    filters = tables.Filters(complevel=5, complib=spec["complib"]) if spec.get("complib") else None
    table = h5.create_table("/", node, description=dtype, filters=filters, expectedrows=rows)

    expected = spec.get("expected")
    if expected:
        os.makedirs(expected, exist_ok=True)
        lo = (side - 28) // 2
        ex_frames = np.lib.format.open_memmap(os.path.join(expected, "frames.npy"), "w+", image_dtype, (rows, 28, 28))
        ex_labels = np.lib.format.open_memmap(os.path.join(expected, "labels.npy"), "w+", np.float32, (rows, 2))
        ex_tracks = np.lib.format.open_memmap(os.path.join(expected, "tracks.npy"), "w+", np.int64, (rows,))

    # One (power, velocity) per recording.
    n_tracks = (rows + per_track - 1) // per_track
    track_power = rng.integers(600, 1800, n_tracks).astype(np.float64)
    track_speed = rng.integers(8, 40, n_tracks) / 2.0
    if np.issubdtype(np.dtype(spec.get("velocity_dtype", "float64")), np.integer):
        track_speed = np.floor(track_speed)

    for start in range(0, rows, chunk):
        n = min(chunk, rows - start)
        r = np.arange(start, start + n)
        block = np.zeros(n, dtype)
        if image_dtype == np.uint8:
            img = rng.integers(0, 256, (n, side, side), dtype=np.uint8)
        elif image_dtype == np.uint16:
            img = rng.integers(0, 1024, (n, side, side), dtype=np.uint16)
        else:
            img = (rng.random((n, side, side)) * 255).astype(image_dtype)
        if "image_fill" in spec:
            img = np.full((n, side, side), spec["image_fill"], image_dtype)
        t = r // per_track
        values = {"image": img, "power": track_power[t], "velocity": track_speed[t], "id_recording": first_id + t}
        bad = spec.get("bad")
        if bad and start <= bad["row"] < start + n:
            v = bad["value"]
            v = float(v) if isinstance(v, str) else v
            if bad["field"] == "image":
                values["image"] = values["image"].copy()
                values["image"][bad["row"] - start, 5, 7] = v
            else:
                # An integer into an integer field keeps the field's type (uint64 beyond int64).
                keep = isinstance(v, int) and np.issubdtype(dtype[bad["field"]], np.integer)
                values[bad["field"]] = np.array(values[bad["field"]], dtype=dtype[bad["field"]] if keep else np.float64)
                values[bad["field"]][bad["row"] - start] = v
        for name in dtype.names:
            block[name] = values[name]
        table.append(block)
        if expected:
            got = block  # what the file holds, after PyTables' dtype conversions
            ex_frames[start:start + n] = got["image"][:, lo:lo + 28, lo:lo + 28]
            ex_labels[start:start + n, 0] = got["power"].astype(np.float32)
            ex_labels[start:start + n, 1] = got["velocity"].astype(np.float32)
            ex_tracks[start:start + n] = got["id_recording"].astype(np.int64)
    table.flush()
    h5.close()
    if expected:
        ex_frames.flush(); ex_labels.flush(); ex_tracks.flush()

    # Check the file opens the way the lab's code opens it.
    with tables.open_file(path) as f:
        df = f.get_node("/" + node)
        assert df.nrows == rows, (df.nrows, rows)


specs = json.loads(sys.argv[1])
for spec in specs if isinstance(specs, list) else [specs]:
    write(spec)
