"""Hatch build hook: generate the REAPI v2 Python modules from graphkit/cache/protos.

Runs grpc_tools.protoc (pinned in ``[build-system].requires``) on every wheel build,
editable or not, writing into ``graphkit/cache/_proto/`` — gitignored, never edited by
hand, and shipped in the wheel as a build artifact.

Why the staging step: protoc's Python generator writes absolute imports that mirror
the .proto file names (``from build.bazel.semver import semver_pb2``). A top-level
``build`` package would collide with anything else of that name, so the sources are
staged under the ``graphkit/cache/_proto/`` prefix (with their ``import`` lines
pointed at that prefix) and the generated imports become
``from graphkit.cache._proto.build.bazel.semver import semver_pb2``. Proto *package*
names — what travels on the wire — are untouched. ``google/rpc/status.proto`` is
include-only: its Python module comes from googleapis-common-protos so that
``google.rpc.Status`` is registered once per process.

Run ``python hatch_build.py`` to regenerate by hand in a development checkout.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

PROTO_SRC = Path("graphkit/cache/protos")
PROTO_PKG = Path("graphkit/cache/_proto")
INCLUDE_ONLY = {Path("google/rpc/status.proto")}
_IMPORT = re.compile(r'^import "((?:build|google/bytestream)/[^"]+)";', re.MULTILINE)


def generate(root: Path) -> list[Path]:
    """Generate Python, .pyi and gRPC modules for every proto under ``root/PROTO_SRC``."""
    from importlib.resources import files

    from grpc_tools import protoc

    src = root / PROTO_SRC
    out_pkg = root / PROTO_PKG
    shutil.rmtree(out_pkg, ignore_errors=True)
    well_known = str(files("grpc_tools") / "_proto")
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp)
        compiled: list[str] = []
        for proto in sorted(src.rglob("*.proto")):
            rel = proto.relative_to(src)
            text = proto.read_text(encoding="utf-8")
            if rel in INCLUDE_ONLY:
                dest = stage / rel
            else:
                dest = stage / PROTO_PKG / rel
                text = _IMPORT.sub(lambda m: f'import "{PROTO_PKG.as_posix()}/{m[1]}";', text)
                compiled.append((PROTO_PKG / rel).as_posix())
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(text, encoding="utf-8")
        args = [
            "grpc_tools.protoc",
            f"-I{stage}",
            f"-I{well_known}",
            f"--python_out={root}",
            f"--pyi_out={root}",
            f"--grpc_python_out={root}",
            *compiled,
        ]
        if protoc.main(args) != 0:
            raise RuntimeError(f"protoc failed on {', '.join(compiled)}")
    for folder in [out_pkg, *(p for p in out_pkg.rglob("*") if p.is_dir())]:
        (folder / "__init__.py").touch()
    (out_pkg / "py.typed").touch()
    return sorted(out_pkg.rglob("*.py"))


try:
    from hatchling.builders.hooks.plugin.interface import BuildHookInterface
except ImportError:  # Running as a script outside a build environment.
    BuildHookInterface = object  # type: ignore[assignment,misc]


class CustomBuildHook(BuildHookInterface):  # type: ignore[misc,valid-type]
    """Generate the protos before hatchling collects the wheel's files."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return  # The sdist ships the .proto sources; its wheel build generates.
        generate(Path(self.root))
        # The output is gitignored, so hatchling would leave it out without this.
        build_data["artifacts"].append(f"/{PROTO_PKG.as_posix()}/")


if __name__ == "__main__":
    for path in generate(Path(__file__).resolve().parent):
        print(path)
    sys.exit(0)
