"""Semantic version bumps and release tag names."""

from util.strings import slugify

PARTS = ("major", "minor", "patch")


def bump(version: str, part: str) -> str:
    """bump('1.4.2', 'minor') -> '1.5.0'."""
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, not {part!r}")
    numbers = [int(n) for n in version.split(".")]
    if len(numbers) != 3:
        raise ValueError(f"not a semantic version: {version!r}")
    index = PARTS.index(part)
    numbers[index] += 1
    numbers[index + 1 :] = [0] * (2 - index)
    return ".".join(map(str, numbers))


def tag_name(package: str, version: str) -> str:
    """tag_name('libs/core', '1.0.0') -> 'libs-core-v1.0.0'."""
    return f"{slugify(package)}-v{version}"
