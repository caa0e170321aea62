"""Colour compensation and barcode calling for sequencing-by-synthesis (SBS) images.

The same code runs in StarryNight's environment and inside CellProfiler (through the
`StarryNightCompensateColors` and `StarryNightCallBarcodes` plugins), so it uses numpy (1.26 or 2) and the
standard library only.

Conventions:

- Intensities carry the four bases on the LAST axis in the order of `BASES` (A, C, G, T).
- A crosstalk matrix ``M`` maps true base signal to observed channels,
  ``observed = M @ true``: ``M[i, j]`` is the fraction of base ``j``'s signal seen in
  channel ``i``, normalised so that ``M[j, j] == 1`` (a pure base keeps its brightness in
  its own channel after compensation).
- Base codes are ``uint8``: 0..3 index `BASES`, 4 (`NO_CALL`) means no signal in a cycle.
"""

from __future__ import annotations

import csv
import string
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BASES: tuple[str, str, str, str] = ("A", "C", "G", "T")
NO_CALL = "N"
NO_CALL_CODE = 4
_LETTERS = np.frombuffer(("".join(BASES) + NO_CALL).encode("ascii"), dtype=np.uint8)
# Cycles that fit a base-4 integer key for the exact-match lookup.
_MAX_KEY_CYCLES = 31


class SBSInputError(ValueError):
    """Bad user input (library file, name pattern, array shape); the message names it."""


# --------------------------------------------------------------------------- names
def cycle_base_names(pattern: str, n_cycles: int) -> list[tuple[str, str, str, str]]:
    """Image names per cycle (A, C, G, T) from a pattern such as ``Cycle{cycle:02d}_{base}``.

    One pattern describes any number of cycles, so pipelines and their LoadData CSVs agree
    on names without listing 4 x N of them. Only the fields ``cycle`` (an int, cycles count
    from 1) and ``base`` are allowed; the pattern is data, never evaluated beyond that.
    """
    if n_cycles < 1:
        raise SBSInputError(f"number of cycles must be at least 1, got {n_cycles}")
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(pattern) if name is not None}
    except ValueError as exc:
        raise SBSInputError(f"image name pattern {pattern!r}: {exc}") from None
    if fields != {"cycle", "base"}:
        raise SBSInputError(
            f"image name pattern {pattern!r} must contain exactly the fields {{cycle}} and "
            f"{{base}}; found {sorted(fields) or 'none'}"
        )
    try:
        names = [
            tuple(pattern.format(cycle=cycle, base=base) for base in BASES)
            for cycle in range(1, n_cycles + 1)
        ]
    except (ValueError, TypeError) as exc:
        raise SBSInputError(f"image name pattern {pattern!r}: {exc}") from None
    flat = [name for cycle in names for name in cycle]
    if len(set(flat)) != len(flat):
        raise SBSInputError(f"image name pattern {pattern!r} gives duplicate names: {flat}")
    return names  # type: ignore[return-value]


# ------------------------------------------------------------------ compensation
@dataclass(frozen=True)
class CrosstalkEstimate:
    """A crosstalk matrix with the evidence behind each column.

    ``pixels[j]`` is how many pixels had base ``j`` brightest; columns listed in
    ``fallback`` had fewer than the minimum and were left as the identity column.
    """

    matrix: np.ndarray
    pixels: np.ndarray
    fallback: tuple[str, ...]


def _base_vectors(intensities: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Flatten ``(..., 4)`` intensities to ``(n, 4)`` rows (a view when unmasked)."""
    values = np.asarray(intensities)
    if values.ndim < 1 or values.shape[-1] != len(BASES):
        raise SBSInputError(f"intensities must have 4 bases on the last axis, got {values.shape}")
    if mask is None:
        return values.reshape(-1, len(BASES))
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != values.shape[:-1]:
        raise SBSInputError(
            f"mask shape {mask.shape} does not match intensities {values.shape[:-1]}"
        )
    return values[mask]


def estimate_crosstalk(
    intensities: np.ndarray | list[np.ndarray],
    mask: np.ndarray | list[np.ndarray | None] | None = None,
    percentile: float = 0.0,
    min_pixels: int = 10,
) -> CrosstalkEstimate:
    """Estimate the 4x4 crosstalk matrix from per-base medians.

    For each base, take the pixels (or spots) where that base is the brightest channel,
    keep only those whose brightest value lies above ``percentile`` of all brightest
    values (skips background, which is flat and would pull columns towards uniform), and
    use their median intensity vector, divided by its own-base entry, as that base's
    column. ``intensities`` is ``(..., 4)`` (pixels of an image stack or spot vectors),
    or a list of such arrays to pool several cycles; ``mask`` (same shape without the
    last axis, or one per array) restricts estimation to e.g. pixels inside objects.
    Only the selected pixels are copied, so pooling many whole images stays affordable.
    """
    arrays = intensities if isinstance(intensities, list) else [intensities]
    masks = mask if isinstance(mask, list) else [mask] * len(arrays)
    if len(masks) != len(arrays):
        raise SBSInputError(f"got {len(masks)} masks for {len(arrays)} intensity arrays")
    if not 0.0 <= percentile < 100.0:
        raise SBSInputError(f"percentile must be in [0, 100), got {percentile}")
    rows = [_base_vectors(a, m) for a, m in zip(arrays, masks, strict=True)]
    brightest = [r.max(axis=1) if len(r) else np.zeros(0, r.dtype) for r in rows]
    threshold = 0.0
    if percentile > 0:
        positive = np.concatenate([b[b > 0] for b in brightest])
        if positive.size:
            threshold = float(np.percentile(positive, percentile))
    vectors = np.concatenate(
        [r[b > threshold].astype(np.float64) for r, b in zip(rows, brightest, strict=True)]
    )
    winner = vectors.argmax(axis=1)
    matrix = np.eye(len(BASES))
    pixels = np.bincount(winner, minlength=len(BASES)).astype(np.int64)
    fallback = []
    for j, base in enumerate(BASES):
        if pixels[j] < max(min_pixels, 1):
            fallback.append(base)
            continue
        median = np.median(vectors[winner == j], axis=0)
        matrix[:, j] = median / median[j]
    return CrosstalkEstimate(matrix=matrix, pixels=pixels, fallback=tuple(fallback))


def subtract_background(intensities: np.ndarray) -> np.ndarray:
    """Subtract each base channel's median over all pixels, clipping at 0.

    Spots cover a small fraction of an SBS image, so the median is the background; an
    unremoved offset adds the same amount to every channel and biases the crosstalk
    columns towards uniform.
    """
    values = np.asarray(intensities)
    if values.ndim < 2 or values.shape[-1] != len(BASES):
        raise SBSInputError(f"intensities must have 4 bases on the last axis, got {values.shape}")
    dtype = np.result_type(values.dtype, np.float32)
    background = np.median(values.reshape(-1, len(BASES)), axis=0).astype(dtype)
    result = np.subtract(values, background, dtype=dtype)
    return np.clip(result, 0, None, out=result)


def _running_min(values: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Minimum over a centred window of odd ``size`` along ``axis``; outside counts as +inf.

    Van Herk / Gil-Werman: per block of ``size``, prefix and suffix minima, so each output
    is the minimum of two numbers whatever the window size. Works in place along ``axis``
    (no transposes), which keeps the memory traffic low for ``(H, W, 4)`` stacks.
    """
    n, radius = values.shape[axis], size // 2
    blocks = -(-(n + 2 * radius) // size)
    before, after = values.shape[:axis], values.shape[axis + 1 :]
    padded = np.full((*before, blocks * size, *after), np.inf, dtype=values.dtype)
    index = (slice(None),) * axis
    padded[(*index, slice(radius, radius + n))] = values
    shaped = padded.reshape(*before, blocks, size, *after)
    prefix = np.minimum.accumulate(shaped, axis=axis + 1).reshape(padded.shape)
    flipped = np.flip(shaped, axis=axis + 1)
    suffix = np.flip(np.minimum.accumulate(flipped, axis=axis + 1), axis=axis + 1)
    suffix = suffix.reshape(padded.shape)
    return np.minimum(
        suffix[(*index, slice(0, n))], prefix[(*index, slice(size - 1, size - 1 + n))]
    )


def subtract_local_background(intensities: np.ndarray, size: int) -> np.ndarray:
    """White top-hat of each base channel: subtract a grey opening with a ``size`` square.

    Removes background that varies across the image (cell autofluorescence under the
    spots), which a single median per channel leaves in and which, being alike in all
    channels, pulls the crosstalk columns towards uniform. ``size`` (odd, pixels) must
    exceed the spot diameter. Spatial axes are all but the last.
    """
    values = np.asarray(intensities)
    if values.ndim < 2 or values.shape[-1] != len(BASES):
        raise SBSInputError(f"intensities must have 4 bases on the last axis, got {values.shape}")
    if size < 3 or size % 2 == 0:
        raise SBSInputError(f"top-hat size must be an odd number of pixels >= 3, got {size}")
    values = values.astype(np.result_type(values.dtype, np.float32), copy=False)
    opened = values
    for axis in range(values.ndim - 1):
        opened = _running_min(opened, size, axis)
    opened = -opened
    for axis in range(values.ndim - 1):
        opened = _running_min(opened, size, axis)
    return np.clip(values + opened, 0, None)


def compensation_matrix(crosstalk: np.ndarray) -> np.ndarray:
    """The inverse of a crosstalk matrix, refusing matrices too ill-conditioned to invert."""
    crosstalk = np.asarray(crosstalk, dtype=np.float64)
    if crosstalk.shape != (len(BASES), len(BASES)):
        raise SBSInputError(f"crosstalk matrix must be 4x4, got {crosstalk.shape}")
    condition = np.linalg.cond(crosstalk)
    if not np.isfinite(condition) or condition > 1e6:
        raise SBSInputError(
            f"crosstalk matrix is singular or nearly so (condition number {condition:.3g}); "
            "two bases look alike in every channel"
        )
    return np.linalg.inv(crosstalk)


def compensate(intensities: np.ndarray, crosstalk: np.ndarray) -> np.ndarray:
    """Unmix ``(..., 4)`` intensities: multiply by the inverse crosstalk, clip negatives to 0."""
    values = np.asarray(intensities)
    if values.shape[-1:] != (len(BASES),):
        raise SBSInputError(f"intensities must have 4 bases on the last axis, got {values.shape}")
    dtype = np.result_type(values.dtype, np.float32)
    unmixed = values.astype(dtype, copy=False) @ compensation_matrix(crosstalk).T.astype(dtype)
    return np.clip(unmixed, 0, None, out=unmixed)


# ------------------------------------------------------------- per-object values
def object_intensities(
    labels: np.ndarray, image: np.ndarray, n_objects: int, statistic: str = "mean"
) -> np.ndarray:
    """Per-object ``mean`` or ``max`` of ``image`` over a label image (label k -> row k-1).

    Objects without pixels get 0. One pass over the labelled pixels, no loop over objects.
    """
    labels = np.asarray(labels)
    image = np.asarray(image, dtype=np.float64)
    if labels.shape != image.shape:
        raise SBSInputError(f"label image {labels.shape} and image {image.shape} differ in shape")
    inside = labels > 0
    index = labels[inside].astype(np.int64) - 1
    if index.size and index.max() >= n_objects:
        raise SBSInputError(f"label {index.max() + 1} exceeds the object count {n_objects}")
    values = image[inside]
    if statistic == "mean":
        counts = np.bincount(index, minlength=n_objects)
        sums = np.bincount(index, weights=values, minlength=n_objects)
        return np.divide(sums, counts, out=np.zeros(n_objects), where=counts > 0)
    if statistic == "max":
        result = np.full(n_objects, -np.inf)
        np.maximum.at(result, index, values)
        result[np.isneginf(result)] = 0.0
        return result
    raise SBSInputError(f"statistic must be 'mean' or 'max', got {statistic!r}")


# ----------------------------------------------------------------- base calling
@dataclass(frozen=True)
class BaseCalls:
    """Per-focus, per-cycle base codes and quality (brightest / sum of the four bases)."""

    codes: np.ndarray
    quality: np.ndarray


def call_bases(intensities: np.ndarray) -> BaseCalls:
    """Call the brightest base per focus and cycle from ``(n_foci, n_cycles, 4)`` intensities.

    Quality ``max/sum`` is 1 for a pure base and 0.25 when all four are equal; a cycle
    with no positive signal is a no-call (`NO_CALL`) with quality 0.
    """
    values = np.asarray(intensities, dtype=np.float64)
    if values.ndim != 3 or values.shape[-1] != len(BASES):
        raise SBSInputError(f"intensities must be (foci, cycles, 4), got shape {values.shape}")
    values = np.clip(values, 0, None)
    total = values.sum(axis=-1)
    brightest = values.max(axis=-1)
    codes = values.argmax(axis=-1).astype(np.uint8)
    signal = total > 0
    codes[~signal] = NO_CALL_CODE
    quality = np.divide(brightest, total, out=np.zeros_like(total), where=signal)
    return BaseCalls(codes=codes, quality=quality)


def codes_to_strings(codes: np.ndarray) -> np.ndarray:
    """``(n, cycles)`` base codes -> ``(n,)`` array of barcode strings, vectorised."""
    codes = np.asarray(codes, dtype=np.uint8)
    n, cycles = codes.shape
    if n == 0 or cycles == 0:
        return np.full(n, "", dtype=f"<U{max(cycles, 1)}")
    letters = np.ascontiguousarray(_LETTERS[codes])
    return letters.view(f"S{cycles}").ravel().astype(f"<U{cycles}")


def strings_to_codes(barcodes: list[str] | tuple[str, ...], n_cycles: int) -> np.ndarray:
    """The first ``n_cycles`` bases of each barcode as ``(n, n_cycles)`` codes (ACGT only)."""
    lookup = np.full(256, 255, dtype=np.uint8)
    for code, base in enumerate(BASES):
        lookup[ord(base)] = code
    if not barcodes:
        return np.zeros((0, n_cycles), dtype=np.uint8)
    short = [b for b in barcodes if len(b) < n_cycles]
    if short:
        raise SBSInputError(f"barcode {short[0]!r} is shorter than the {n_cycles} cycles read")
    joined = "".join(b[:n_cycles] for b in barcodes).encode("ascii", errors="replace")
    codes = lookup[np.frombuffer(joined, dtype=np.uint8)].reshape(len(barcodes), n_cycles)
    bad = np.flatnonzero((codes == 255).any(axis=1))
    if bad.size:
        raise SBSInputError(f"barcode {barcodes[bad[0]]!r} has characters other than A, C, G, T")
    return codes


# ------------------------------------------------------------------- library
@dataclass(frozen=True)
class BarcodeLibrary:
    """Library barcodes (full sgRNA sequences, upper case) and their gene symbols."""

    barcodes: tuple[str, ...]
    genes: tuple[str, ...]
    source: str = "<memory>"

    def codes(self, n_cycles: int) -> np.ndarray:
        """The first ``n_cycles`` bases of every barcode, as codes; SBS reads only these."""
        try:
            return strings_to_codes(self.barcodes, n_cycles)
        except SBSInputError as exc:
            raise SBSInputError(f"{self.source}: {exc}") from None


def read_barcode_library(
    path: str | Path, barcode_column: str = "sgRNA", gene_column: str = "gene_symbol"
) -> BarcodeLibrary:
    """Read a barcode library CSV, checking columns and sequences, naming the row at fault."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            repeated = sorted({c for c in header if header.count(c) > 1})
            if repeated:
                raise SBSInputError(
                    f"{path}: column(s) {repeated} appear more than once in the header"
                )
            missing = [c for c in (barcode_column, gene_column) if c not in header]
            if missing:
                raise SBSInputError(f"{path}: missing column(s) {missing}; columns found: {header}")
            rows = [(r[barcode_column], r[gene_column]) for r in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SBSInputError(f"barcode library {path}: {exc}") from None
    if not rows:
        raise SBSInputError(f"{path}: the barcode library has no rows")
    barcodes, genes = [], []
    for line, (barcode, gene) in enumerate(rows, start=2):
        barcode = (barcode or "").strip().upper()
        if not barcode or set(barcode) - set(BASES):
            raise SBSInputError(
                f"{path}: line {line}: {barcode_column} {barcode!r} is not a sequence of A, C, G, T"
            )
        barcodes.append(barcode)
        genes.append((gene or "").strip())
    return BarcodeLibrary(barcodes=tuple(barcodes), genes=tuple(genes), source=str(path))


# ------------------------------------------------------------------- matching
@dataclass(frozen=True)
class LibraryMatch:
    """Best library entry per focus.

    ``index`` is the library row (the lowest among ties), ``score`` the fraction of cycles
    that agree, ``n_best`` how many library barcodes share that best score (> 1 means the
    match is ambiguous).
    """

    index: np.ndarray
    score: np.ndarray
    n_best: np.ndarray

    @property
    def perfect(self) -> np.ndarray:
        return self.score >= 1.0


def _weights(cycles: int) -> np.ndarray:
    """Place values of the base-4 key: the first cycle is the most significant digit."""
    return 4 ** np.arange(cycles - 1, -1, -1, dtype=np.int64)


def _keys(codes: np.ndarray) -> np.ndarray:
    """Base-4 integer per barcode (no-calls must be removed first)."""
    return codes.astype(np.int64) @ _weights(codes.shape[1])


def _one_hot(codes: np.ndarray) -> np.ndarray:
    """``(n, cycles)`` codes -> ``(n, cycles*4)`` float32 indicators; no-calls are all zero."""
    n, cycles = codes.shape
    hot = np.zeros((n, cycles, len(BASES) + 1), dtype=np.float32)
    hot[np.arange(n)[:, None], np.arange(cycles)[None, :], codes] = 1.0
    return hot[:, :, : len(BASES)].reshape(n, cycles * len(BASES))


@dataclass(frozen=True)
class _KeyTable:
    """Library prefixes as sorted base-4 keys, to look up many keys at once."""

    sorted_keys: np.ndarray
    order: np.ndarray

    @classmethod
    def build(cls, library_codes: np.ndarray) -> _KeyTable:
        keys = _keys(library_codes)
        order = np.argsort(keys, kind="stable")  # equal keys keep library order
        return cls(sorted_keys=keys[order], order=order)

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per key (any shape): how many library rows have it, and the first such row (-1)."""
        left = np.searchsorted(self.sorted_keys, keys, side="left")
        right = np.searchsorted(self.sorted_keys, keys, side="right")
        count = right - left
        first = np.where(count > 0, self.order[np.minimum(left, len(self.order) - 1)], -1)
        return count, first


def _one_mismatch_variants(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keys of every barcode one substitution away, for reads with at most one no-call.

    A read without no-calls has ``3 * cycles`` neighbours; a read with one no-call is one
    mismatch away from exactly the 4 keys that fill that cycle. Returns the rows handled
    and their neighbour keys, one array per kind.
    """
    n, cycles = codes.shape
    weights = _weights(cycles)
    no_calls = (codes == NO_CALL_CODE).sum(axis=1)
    clean = np.flatnonzero(no_calls == 0)
    shifted = (codes[clean][:, :, None] + np.arange(1, 4, dtype=np.int64)) % 4
    delta = (shifted - codes[clean][:, :, None]) * weights[None, :, None]
    clean_keys = _keys(codes[clean])[:, None] + delta.reshape(len(clean), 3 * cycles)
    single = np.flatnonzero(no_calls == 1)
    gap = (codes[single] == NO_CALL_CODE).argmax(axis=1)
    filled = np.where(codes[single] == NO_CALL_CODE, 0, codes[single])
    single_keys = _keys(filled)[:, None] + np.arange(4, dtype=np.int64) * weights[gap][:, None]
    return (clean, clean_keys), (single, single_keys)


def match_barcodes(
    codes: np.ndarray, library_codes: np.ndarray, chunk_elements: int = 1 << 24
) -> LibraryMatch:
    """Match called barcodes against library prefixes: exact first, else best Hamming.

    Exact matches and matches one substitution away (the common sequencing error) come
    from sorted-key lookups (``searchsorted``) of the read and of its ``3 x cycles``
    neighbours. Only reads further away get agreement counts from a matrix product of
    one-hot codes (``onehot @ library_onehot.T``), in chunks of foci holding at most
    ``chunk_elements`` similarities at once (100k barcodes x 12 cycles: tens of MB).
    """
    codes = np.asarray(codes, dtype=np.uint8)
    library_codes = np.asarray(library_codes, dtype=np.uint8)
    if codes.ndim != 2 or library_codes.ndim != 2 or codes.shape[1] != library_codes.shape[1]:
        raise SBSInputError(
            f"called codes {codes.shape} and library codes {library_codes.shape} must both be "
            "(n, cycles) with the same number of cycles"
        )
    n, cycles = codes.shape
    if len(library_codes) == 0:
        raise SBSInputError("the barcode library is empty")
    index = np.zeros(n, dtype=np.int64)
    score = np.zeros(n, dtype=np.float64)
    n_best = np.zeros(n, dtype=np.int64)
    pending = np.ones(n, dtype=bool)

    def settle(rows: np.ndarray, keys: np.ndarray, agreement: float) -> None:
        """Rows whose ``(rows, k)`` candidate keys hit the library get their best match."""
        count, first = table.lookup(keys)
        total = count.sum(axis=1)
        lowest = np.where(count > 0, first, np.iinfo(np.int64).max).min(axis=1)
        found = total > 0
        index[rows[found]] = lowest[found]
        n_best[rows[found]] = total[found]
        score[rows[found]] = agreement
        pending[rows[found]] = False

    if 0 < cycles <= _MAX_KEY_CYCLES:
        table = _KeyTable.build(library_codes)
        callable_rows = np.flatnonzero((codes < NO_CALL_CODE).all(axis=1))
        settle(callable_rows, _keys(codes[callable_rows])[:, None], 1.0)
        todo = np.flatnonzero(pending)
        for rows, keys in _one_mismatch_variants(codes[todo]):
            settle(todo[rows], keys, (cycles - 1) / cycles)

    rest = np.flatnonzero(pending)
    if rest.size:
        library_hot_t = np.ascontiguousarray(_one_hot(library_codes).T)
        step = max(1, chunk_elements // len(library_codes))
        for start in range(0, rest.size, step):
            rows = rest[start : start + step]
            agreement = _one_hot(codes[rows]) @ library_hot_t
            best = agreement.max(axis=1)
            index[rows] = agreement.argmax(axis=1)
            n_best[rows] = (agreement == best[:, None]).sum(axis=1)
            score[rows] = best.astype(np.float64) / cycles
    return LibraryMatch(index=index, score=score, n_best=n_best)


# ------------------------------------------------------------ the whole call
@dataclass(frozen=True)
class BarcodeCalls:
    """Everything reported per focus: call, quality, best library match."""

    called: np.ndarray
    quality: np.ndarray
    cycle_quality: np.ndarray
    matched: np.ndarray
    gene: np.ndarray
    score: np.ndarray
    perfect: np.ndarray
    n_best: np.ndarray


def call_barcodes(intensities: np.ndarray, library: BarcodeLibrary) -> BarcodeCalls:
    """Call and match barcodes from ``(n_foci, n_cycles, 4)`` compensated intensities.

    The library is matched as its distinct (first ``n_cycles`` bases, gene) entries, so a
    barcode listed twice under one gene is one entry. ``n_best`` counts the entries sharing
    the best score; a read with more than one (it cannot say which gene) gets no matched
    barcode and no gene (empty strings).

    Overall quality is the minimum over cycles: one unreadable cycle makes the whole
    barcode doubtful.
    """
    calls = call_bases(intensities)
    n, cycles = calls.codes.shape
    library.codes(cycles)  # names a library barcode shorter than the cycles read
    entries = dict.fromkeys(zip((b[:cycles] for b in library.barcodes), library.genes, strict=True))
    prefixes = np.array([p for p, _ in entries], dtype=f"<U{max(cycles, 1)}")
    genes = np.array([g for _, g in entries], dtype=str)
    match = match_barcodes(calls.codes, strings_to_codes(list(prefixes), cycles))
    ambiguous = match.n_best > 1
    quality = calls.quality.min(axis=1) if cycles else np.zeros(n)
    return BarcodeCalls(
        called=codes_to_strings(calls.codes),
        quality=quality,
        cycle_quality=calls.quality,
        matched=np.where(ambiguous, "", prefixes[match.index]),
        gene=np.where(ambiguous, "", genes[match.index]),
        score=match.score,
        perfect=match.perfect,
        n_best=match.n_best,
    )
