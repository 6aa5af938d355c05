"""Hugging Face hub cache trees for test fixtures: models--org--name/blobs/<sha256>,
snapshots/<commit>/<file> as relative symlinks to the blobs, refs/main naming the commit —
the layout huggingface_hub writes."""
import hashlib
import os
import shutil

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def place(source, destination):
    """Hard-links source to destination (a copy across file systems)."""
    os.makedirs(os.path.dirname(destination), exist_ok=True)
    try:
        os.link(source, destination)
    except OSError:
        shutil.copyfile(source, destination)


def sha256_cached(path, cache):
    st = os.stat(path)
    key = f"{path}:{st.st_size}:{st.st_mtime_ns}"
    if key not in cache:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        cache[key] = digest.hexdigest()
    return cache[key]


def hf_repo(hub, repo, files, cache, commit=COMMIT):
    """Repository `repo` in the hub folder `hub`, holding files {name: source path}."""
    folder = os.path.join(hub, "models--" + repo.replace("/", "--"))
    snapshot = os.path.join(folder, "snapshots", commit)
    os.makedirs(snapshot, exist_ok=True)
    os.makedirs(os.path.join(folder, "refs"), exist_ok=True)
    with open(os.path.join(folder, "refs", "main"), "w") as f:
        f.write(commit)
    for name, source in files.items():
        blob = os.path.join(folder, "blobs", sha256_cached(source, cache))
        if not os.path.exists(blob):
            place(source, blob)
        link = os.path.join(snapshot, name)
        if os.path.lexists(link):
            os.remove(link)
        os.symlink(os.path.relpath(blob, snapshot), link)
    return folder, snapshot
