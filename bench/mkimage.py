#!/usr/bin/env python3
"""Deterministic test data for bench/run.

  mkimage.py layout DIR TAG SEED N SIZE   OCI image layout DIR holding image DIR:TAG with N
                                          uncompressed tar layers of exactly SIZE bytes each
                                          (SIZE a multiple of 512, >= 2048), one file of
                                          random bytes per layer.
  mkimage.py blob FILE SEED SIZE          FILE = SIZE random bytes; prints its sha256 digest.

Random bytes come from random.Random(seed), so the same arguments always give the same
digests, and random content defeats any compression or dedup on the way. Everything is
streamed in 1 MiB chunks: a 1 GiB image never sits in memory.
"""
import hashlib
import json
import os
import random
import sys
import tarfile

CHUNK = 1 << 20


def random_chunks(rng, size):
    while size > 0:
        n = min(CHUNK, size)
        yield rng.randbytes(n)
        size -= n


def write_blob(blobs_dir, chunks):
    """Streams chunks into blobs/sha256/<hex>; returns (digest, size)."""
    tmp = os.path.join(blobs_dir, ".tmp")
    h = hashlib.sha256()
    size = 0
    with open(tmp, "wb") as f:
        for c in chunks:
            h.update(c)
            f.write(c)
            size += len(c)
    os.rename(tmp, os.path.join(blobs_dir, h.hexdigest()))
    return "sha256:" + h.hexdigest(), size


def tar_layer(rng, name, size):
    """A valid one-file tar of exactly `size` bytes: header, data, two zero end blocks."""
    data = size - 512 - 1024
    info = tarfile.TarInfo(name)
    info.size = data
    info.mode = 0o644
    info.mtime = 0
    yield info.tobuf(format=tarfile.USTAR_FORMAT)
    yield from random_chunks(rng, data)
    yield b"\0" * 1024


def put_json(blobs_dir, obj):
    return write_blob(blobs_dir, [json.dumps(obj, separators=(",", ":")).encode()])


def layout(out, tag, seed, n, size):
    assert size % 512 == 0 and size >= 2048, "layer size must be a multiple of 512, >= 2048"
    blobs = os.path.join(out, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)
    rng = random.Random(seed)
    layers = []
    for i in range(n):
        d, s = write_blob(blobs, tar_layer(rng, f"layer{i}.bin", size))
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": s})
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [l["digest"] for l in layers]},
    }
    cd, cs = put_json(blobs, config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
        "layers": layers,
    }
    md, ms = put_json(blobs, manifest)
    index = {
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": md,
            "size": ms,
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }],
    }
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump(index, f)
    with open(os.path.join(out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    print(md)


def blob(path, seed, size):
    h = hashlib.sha256()
    with open(path, "wb") as f:
        for c in random_chunks(random.Random(seed), size):
            h.update(c)
            f.write(c)
    print("sha256:" + h.hexdigest())


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "layout":
        layout(args[0], args[1], int(args[2]), int(args[3]), int(args[4]))
    elif cmd == "blob":
        blob(args[0], int(args[1]), int(args[2]))
    else:
        sys.exit(__doc__)
