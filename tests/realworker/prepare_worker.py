"""Copies the classic worker's folder to where the worker venv installs it from, with its gRPC stubs.

    python prepare_worker.py WORKER_FOLDER DESTINATION

The worker folder is installed from a copy because building a package writes into its source folder, and the
worker folder is shared. Its generated stubs (`azure_functions_worker/protos/*_pb2*.py`) are ignored by its own
`.gitignore`, so a copy of the repository may lack them; then they are taken from `azure-functions-runtime-v1`
on PyPI, which ships the same stubs (generated for protobuf 4, with the same relative imports) in its wheel.
"""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

STUBS_FROM = "azure-functions-runtime-v1==1.2.0"
STUBS_IN_WHEEL = "tests/protos/"


def _writable(path: Path) -> None:
    for item in [path, *path.rglob("*")]:
        item.chmod(item.stat().st_mode | stat.S_IWUSR)


def _fill_stubs(protos: Path) -> None:
    with tempfile.TemporaryDirectory() as download:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                "--python-version",
                "3.13",  # the package says it needs 3.13; its stubs are plain generated code
                "--dest",
                download,
                STUBS_FROM,
            ],
            check=True,
        )
        wheel = next(Path(download).glob("*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            names = [n for n in archive.namelist() if n.startswith(STUBS_IN_WHEEL) and n.endswith("_pb2.py")]
            names += [n for n in archive.namelist() if n.startswith(STUBS_IN_WHEEL) and n.endswith("_pb2_grpc.py")]
            if not any(n.endswith("FunctionRpc_pb2.py") for n in names):
                sys.exit(f"{wheel.name} has no FunctionRpc_pb2.py under {STUBS_IN_WHEEL}")
            for name in names:
                target = protos / name[len(STUBS_IN_WHEEL) :]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.read(name))
    print(f"prepare_worker: gRPC stubs taken from {STUBS_FROM} ({len(names)} files)")


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit("usage: prepare_worker.py WORKER_FOLDER DESTINATION")
    source, destination = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
    if not (source / "azure_functions_worker").is_dir():
        sys.exit(f"prepare_worker: {source} holds no azure_functions_worker package")
    if destination.exists():
        shutil.rmtree(destination)
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    _writable(destination)
    protos = destination / "azure_functions_worker" / "protos"
    if not (protos / "FunctionRpc_pb2.py").is_file():
        _fill_stubs(protos)


if __name__ == "__main__":
    main()
