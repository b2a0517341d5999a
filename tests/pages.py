"""Checks shared by the tests of bnncc's HTML pages (charts, search): self-contained, every embedded image
decodes and is not blank, and headless Chromium renders the page to a screenshot that is not blank."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np


def not_blank(png: bytes) -> bool:
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float64)
    return img.std() > 5 and (img < 128).mean() > 0.002


def check_page(page_path: Path, images: int, scratch: Path) -> None:
    page = page_path.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # self-contained: no external URL
    embedded = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(embedded) == images
    for data in embedded:
        assert not_blank(base64.b64decode(data))
    for png in page_path.parent.glob("*.png"):
        assert not_blank(png.read_bytes()), png.name
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "scripts/setup.sh installs Debian's chromium"
    shot = scratch / "shot.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--screenshot={shot}", "--window-size=1280,2400", page_path.as_uri()],
                   check=True, capture_output=True, timeout=120)
    assert not_blank(shot.read_bytes())
