"""Turning image files, PIL images and arrays into ``H x W x 3`` uint8 RGB pixels, safely.

Files are checked from their header before any pixel is decoded: an image whose decoded buffer
would exceed :data:`MAX_DECODE_BYTES` is decoded at a reduced scale where the format allows it
(JPEG's ``draft``), and refused otherwise, so a small compressed "bomb" cannot take gigabytes.
16-bit images are scaled to 8 bits; float arrays must be finite and in ``[0, 1]``.
"""

from __future__ import annotations

import io
import struct
import threading
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from mereo.errors import InvalidImageError

#: Images with a side larger than this are downscaled (keeping aspect ratio) on load. The agent's
#: masks and overlays of a 4096 x 4096 image took 2 GB on top of its own memory; 2048 takes 0.6 GB
#: (`mereo bench memory`), and the embedded tools see 64-128 pixel inputs anyway.
MAX_SIDE = 2048
#: Images with more pixels than this are refused (about 30000 x 30000).
MAX_PIXELS = 900_000_000
#: Largest decoded pixel buffer (bytes, as Pillow stores it) Mereo allocates for one file.
MAX_DECODE_BYTES = 512 * 1024 * 1024
#: Images with a side smaller than this are refused.
MIN_SIDE = 8

_OPEN_LOCK = threading.Lock()  # Pillow's bomb limit is a module global: set it under a lock


def load_pixels(source: Any, notes: list[str], max_side: int = MAX_SIDE) -> tuple[str, np.ndarray]:
    """``(name, H x W x 3 uint8 array)`` of a path, PIL image or array; ``notes`` gets what was changed.

    Raises:
        InvalidImageError: missing file, not an image, too large to decode safely, unusable array.
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise InvalidImageError(
                f"image file not found: {path}. Check the path (relative paths are "
                f"resolved from {Path.cwd()})."
            )
        if path.is_dir():
            raise InvalidImageError(f"{path} is a folder, not an image file.")
        return str(path), decode(path.read_bytes(), str(path), notes, max_side)
    if isinstance(source, Image.Image):
        return "<PIL image>", to_rgb(source, "<PIL image>", notes)
    if isinstance(source, np.ndarray):
        return "<array>", array_to_rgb(source, notes)
    raise InvalidImageError(
        f"cannot use an object of type {type(source).__name__} as an image; pass a file path, "
        "a PIL.Image or an HxWx3 uint8 numpy array."
    )


def array_to_rgb(arr: np.ndarray, notes: list[str]) -> np.ndarray:
    """An ``H x W``, ``H x W x 1``, ``H x W x 3`` or ``H x W x 4`` array -> ``H x W x 3`` uint8.

    uint8 is kept; bool becomes 0/255; uint16 is scaled by 255/65535; other integers must lie
    in 0..255; floats must be finite and in ``[0, 1]``.
    """
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 2:
        notes.append("converted grayscale array to RGB")
        arr = np.stack([arr] * 3, axis=-1)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise InvalidImageError(f"image arrays must be HxWx3 (RGB), got shape {arr.shape}.")
    if arr.shape[2] == 4:
        notes.append("dropped the alpha channel of an RGBA array")
        arr = arr[:, :, :3]
    if arr.dtype == np.uint8:
        return arr
    if arr.size == 0:
        raise InvalidImageError(f"the image array is empty (shape {arr.shape}).")
    if arr.dtype == np.bool_:
        notes.append("converted a bool array to 0/255")
        return arr.astype(np.uint8) * 255
    if arr.dtype == np.uint16:
        notes.append("scaled a 16-bit array to 8 bits")
        return _scale16(arr)
    if np.issubdtype(arr.dtype, np.integer):
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > 255:
            raise InvalidImageError(
                f"an {arr.dtype} image array must hold values in 0..255, got {lo}..{hi}; "
                "pass uint8 (or uint16, which is scaled)."
            )
        notes.append(f"converted an {arr.dtype} array to uint8")
        return arr.astype(np.uint8)
    if np.issubdtype(arr.dtype, np.floating):
        finite = np.isfinite(arr)
        if not finite.all():
            bad = int((~finite).sum())
            raise InvalidImageError(
                f"the {arr.dtype} image array holds NaN or infinite values ({bad} of {arr.size}); "
                "replace them (e.g. np.nan_to_num) before passing the image."
            )
        flo, fhi = float(arr.min()), float(arr.max())
        if flo < 0.0 or fhi > 1.0:
            hint = " (it looks like 0..255: divide by 255 or pass uint8)" if fhi > 1.0 else ""
            raise InvalidImageError(
                f"a float image array must hold values in [0, 1], got {flo:g}..{fhi:g}{hint}."
            )
        notes.append("scaled a float array in [0, 1] to uint8")
        return (arr.astype(np.float64) * 255.0 + 0.5).astype(np.uint8)
    raise InvalidImageError(f"image arrays must be uint8 (or uint16, or float in [0, 1]), got {arr.dtype}.")


def _scale16(arr: np.ndarray) -> np.ndarray:
    return ((arr.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)


def _bytes_per_pixel(mode: str) -> int:
    """Bytes per pixel of Pillow's own buffer (multi-band 8-bit modes take 4)."""
    if mode in ("1", "L", "P"):
        return 1
    if mode.startswith("I;16"):
        return 2
    return 4


def decode(data: bytes, name: str, notes: list[str], max_side: int = MAX_SIDE) -> np.ndarray:
    """Decode an encoded image (PNG, JPEG, ...) to ``H x W x 3`` uint8, within the memory budget."""
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with _OPEN_LOCK:
            old_limit = Image.MAX_IMAGE_PIXELS
            # our own limits (checked below) replace Pillow's bomb check, which fires at ~179 MP
            Image.MAX_IMAGE_PIXELS = MAX_PIXELS
            try:
                im = Image.open(io.BytesIO(data))
            finally:
                Image.MAX_IMAGE_PIXELS = old_limit
        with im:
            return _decode_opened(im, name, notes, max_side)
    except InvalidImageError:
        raise
    except UnidentifiedImageError as e:
        raise InvalidImageError(f"{name} is not an image file Pillow can read (PNG, JPEG, ...).") from e
    except Image.DecompressionBombError as e:
        raise InvalidImageError(f"{name} is too large to load safely ({e}); downscale it first.") from e
    except (OSError, SyntaxError, ValueError) as e:
        raise InvalidImageError(
            f"{name} could not be decoded ({e}); the file may be truncated or "
            "corrupt. Re-export or re-download it."
        ) from e


def _decode_opened(im: Image.Image, name: str, notes: list[str], max_side: int) -> np.ndarray:
    """The pixels of an opened (not yet decoded) image: sizes checked from the header first."""
    w, h = im.size
    if w * h > MAX_PIXELS:
        raise InvalidImageError(
            f"{name} is {w}x{h} pixels, more than Mereo loads ({MAX_PIXELS:,} pixels); downscale it first."
        )
    if max(w, h) > max_side and im.format == "JPEG":
        # the JPEG decoder can produce 1/2, 1/4 or 1/8 scale directly
        im.draft(im.mode, (max_side, max_side))
    dw, dh = im.size
    need = dw * dh * _bytes_per_pixel(im.mode)
    if need > MAX_DECODE_BYTES:
        raise InvalidImageError(
            f"{name} is {w}x{h} pixels ({im.mode}); decoding it would take "
            f"{need / 2**30:.1f} GiB of memory, more than Mereo allows for one image "
            f"({MAX_DECODE_BYTES / 2**30:.1f} GiB). Please downscale it first "
            f"(to at most {max_side} pixels on a side)."
        )
    im.load()
    im = _to_8bit(im, notes)
    if max(im.size) > max_side:
        # shrink before the RGB conversion so a huge image never exists as RGB in memory
        im.thumbnail((max_side, max_side), Image.Resampling.BILINEAR, reducing_gap=2.0)
    if im.size != (w, h):
        notes.append(f"downscaled from {w}x{h} to {im.size[0]}x{im.size[1]} (longest side limit {max_side})")
    return to_rgb(im, name, notes)


def _to_8bit(im: Image.Image, notes: list[str]) -> Image.Image:
    """16-bit and 32-bit grayscale (``I;16*``, ``I``, ``F``) -> ``L``, scaled rather than clipped."""
    if not (im.mode.startswith("I") or im.mode == "F"):
        return im
    arr = np.asarray(im)
    if im.mode == "F":
        notes.append("converted a float image")
        return Image.fromarray(array_to_rgb(arr, [])[:, :, 0])
    if int(arr.min(initial=0)) < 0 or int(arr.max(initial=0)) > 65535:
        raise InvalidImageError(
            "a 32-bit integer image must hold values in 0..65535; export it as 8 or 16 bit."
        )
    notes.append(f"scaled a 16-bit image ({im.mode}) to 8 bits")
    return Image.fromarray(_scale16(arr))


def to_rgb(im: Image.Image, name: str, notes: list[str]) -> np.ndarray:
    """A PIL image -> ``H x W x 3`` uint8 (transparent pixels on white; 16-bit scaled)."""
    im = _to_8bit(im, notes)
    if im.mode != "RGB":
        notes.append(f"converted {im.mode} to RGB")
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            bg = Image.new("RGB", im.size, (255, 255, 255))
            rgba = im.convert("RGBA")
            bg.paste(rgba, mask=rgba.split()[-1])
            im = bg
        else:
            im = im.convert("RGB")
    return np.asarray(im, dtype=np.uint8).copy()


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB (Linux ``VmHWM``; ``ru_maxrss`` elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_blank_png(path: str | Path, width: int, height: int, mode: str = "RGB") -> Path:
    """Write a black ``width x height`` PNG row by row (a decompression bomb for tests: a few MB
    on disk, gigabytes when decoded), without holding the image in memory."""
    channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
    color_type = {"L": 0, "RGB": 2, "RGBA": 6}[mode]

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    p = Path(path)
    comp = zlib.compressobj(9)
    row = bytes(1 + width * channels)  # filter byte 0 + zero pixels
    with p.open("wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)))
        buf = bytearray()
        for _ in range(height):
            buf += comp.compress(row)
            if len(buf) > 1 << 20:
                f.write(chunk(b"IDAT", bytes(buf)))
                buf.clear()
        buf += comp.flush()
        f.write(chunk(b"IDAT", bytes(buf)))
        f.write(chunk(b"IEND", b""))
    return p
