"""The command-line tools some tests drive (docker-compose, chromium), found on PATH or reported."""

from __future__ import annotations

import os
import shutil

import pytest


def required_tool(binary: str, package: str, purpose: str, variable: str) -> str:
    """`binary`'s path; without it the calling test skips, saying how to install it, unless
    `variable`=1 (CI installs the tool and sets it), which makes the test fail instead."""
    found = shutil.which(binary)
    if found:
        return found
    reason = f"{binary} (Debian package `{package}`) is not on PATH;"
    reason += f" install it with `apt-get install -y {package}` {purpose}"
    if os.environ.get(variable) == "1":
        pytest.fail(f"{variable}=1 but {reason}", pytrace=False)
    pytest.skip(reason)
