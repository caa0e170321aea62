"""
StarryNightCallBarcodes
=======================

**StarryNightCallBarcodes** (named apart from the CellProfiler-plugins module ``CallBarcodes``, which has other settings; pipelines saved with the old name ``CallBarcodes`` by StarryNight still load through its runner) reads the barcode of every focus (spot) of a sequencing-by-synthesis
(SBS) experiment and matches it against a barcode library.

For each focus and cycle the module measures the focus's mean (or maximum) intensity in
the four colour-compensated base images (see **StarryNightCompensateColors**) and calls the
brightest base; the cycle's quality is brightest / sum of the four. The called barcode
is matched against the first N bases (N = number of cycles) of every library barcode:
an exact match if there is one, otherwise the library barcode agreeing at the most
cycles. The library is matched as its distinct (prefix, gene) entries; a read matching several
equally well gets no matched barcode and no gene, and ``NumBestMatches`` says how many.

The library is a CSV file with a barcode column (default ``sgRNA``) and a gene column
(default ``gene_symbol``). Base images are named by a pattern with the fields
``{cycle}`` (1, 2, ...; format specs such as ``{cycle:02d}`` allowed) and ``{base}``
(A, C, G, T).

Measurements (per focus):

- ``Barcode_Called``: the called bases, ``N`` for a cycle without signal
- ``Barcode_Quality``: the lowest per-cycle quality; ``Barcode_Quality_CycleNN`` per cycle
- ``Barcode_MatchedBarcode``, ``Barcode_Gene``: the best library match (its first N bases),
  empty when several entries match equally well
- ``Barcode_MatchScore``: fraction of cycles agreeing with the match (1 = exact)
- ``Barcode_PerfectMatch``: 1 for an exact match, else 0
- ``Barcode_NumBestMatches``: library entries sharing the best score (> 1 = ambiguous)

============ ============ ===============
Supports 2D? Supports 3D? Respects masks?
============ ============ ===============
YES          NO           NO
============ ============ ===============
"""

import os

import numpy
from cellprofiler_core.constants.measurement import (
    COLTYPE_FLOAT,
    COLTYPE_INTEGER,
    COLTYPE_VARCHAR_FORMAT,
)
from cellprofiler_core.module import Module
from cellprofiler_core.setting import ValidationError
from cellprofiler_core.setting.choice import Choice
from cellprofiler_core.setting.subscriber import LabelSubscriber
from cellprofiler_core.setting.text import Integer, Pathname, Text

from starrynight.algorithms import sbs

CATEGORY = "Barcode"
STATISTIC_MEAN = "Mean"
STATISTIC_MAX = "Max"
# Longest library sequence stored per row; barcodes and genes are far shorter.
VARCHAR = COLTYPE_VARCHAR_FORMAT % 64


def cycle_quality_feature(cycle: int) -> str:
    """Feature name (without category) of one cycle's quality."""
    return f"Quality_Cycle{cycle:02d}"


class StarryNightCallBarcodes(Module):
    module_name = "StarryNightCallBarcodes"
    category = "Measurement"
    variable_revision_number = 1

    def create_settings(self):
        self.objects_name = LabelSubscriber(
            "Select the foci",
            doc="The spots whose barcodes are read, e.g. from IdentifyPrimaryObjects on "
            "the maximum image of StarryNightCompensateColors.",
        )
        self.n_cycles = Integer(
            "Number of cycles",
            3,
            minval=1,
            doc="How many SBS cycles to read; the barcode has one base per cycle.",
        )
        self.image_pattern = Text(
            "Base image name pattern",
            "CompCycle{cycle:02d}_{base}",
            doc="Names of the compensated base images, with the fields {cycle} and "
            "{base} (A, C, G, T).",
        )
        self.statistic = Choice(
            "Intensity of a focus in each base",
            [STATISTIC_MEAN, STATISTIC_MAX],
            doc="Measure each focus by the mean or the maximum of its pixels.",
        )
        self.library_path = Pathname(
            "Barcode library CSV",
            "",
            doc="CSV file with one row per library barcode and its gene.",
        )
        self.barcode_column = Text(
            "Barcode column", "sgRNA", doc="Column of the library that holds the sequences."
        )
        self.gene_column = Text(
            "Gene column", "gene_symbol", doc="Column of the library that holds the genes."
        )

    def settings(self):
        return [
            self.objects_name,
            self.n_cycles,
            self.image_pattern,
            self.statistic,
            self.library_path,
            self.barcode_column,
            self.gene_column,
        ]

    # --------------------------------------------------------------- library
    def library(self):
        """The library, read once per file version and column choice."""
        path = self.library_path.value
        key = (
            path,
            os.stat(path).st_mtime_ns if os.path.isfile(path) else None,
            self.barcode_column.value,
            self.gene_column.value,
        )
        cached = getattr(self, "_library_cache", None)
        if cached is None or cached[0] != key:
            library = sbs.read_barcode_library(
                path, self.barcode_column.value, self.gene_column.value
            )
            cached = self._library_cache = (key, library)
        return cached[1]

    def validate_module(self, pipeline):
        try:
            names = sbs.cycle_base_names(self.image_pattern.value, self.n_cycles.value)
        except sbs.SBSInputError as exc:
            raise ValidationError(str(exc), self.image_pattern) from None
        provided = pipeline.get_provider_dictionary("imagegroup", self)
        missing = [n for cycle in names for n in cycle if n not in provided]
        if missing:
            raise ValidationError(
                f"No earlier module provides the image(s) {', '.join(missing)}",
                self.image_pattern,
            )
        try:
            self.library().codes(self.n_cycles.value)
        except sbs.SBSInputError as exc:
            raise ValidationError(str(exc), self.library_path) from None

    # -------------------------------------------------------------------- run
    def run(self, workspace):
        objects = workspace.object_set.get_objects(self.objects_name.value)
        labels = objects.segmented
        n_foci = objects.count
        names = sbs.cycle_base_names(self.image_pattern.value, self.n_cycles.value)
        statistic = "max" if self.statistic == STATISTIC_MAX else "mean"
        intensities = numpy.zeros((n_foci, len(names), len(sbs.BASES)))
        for cycle, cycle_names in enumerate(names):
            for b, name in enumerate(cycle_names):
                pixels = workspace.image_set.get_image(name, must_be_grayscale=True).pixel_data
                if pixels.shape != labels.shape:
                    raise ValueError(
                        f"StarryNightCallBarcodes: image {name} is {pixels.shape} but objects "
                        f"{self.objects_name.value} are {labels.shape}"
                    )
                intensities[:, cycle, b] = sbs.object_intensities(labels, pixels, n_foci, statistic)
        calls = sbs.call_barcodes(intensities, self.library())

        name = self.objects_name.value
        measurements = workspace.measurements

        def add(feature, values):
            measurements.add_measurement(name, f"{CATEGORY}_{feature}", values)

        add("Called", [str(v) for v in calls.called])
        add("Quality", calls.quality.astype(float))
        add("MatchedBarcode", [str(v) for v in calls.matched])
        add("Gene", [str(v) for v in calls.gene])
        add("MatchScore", calls.score.astype(float))
        add("PerfectMatch", calls.perfect.astype(int))
        add("NumBestMatches", calls.n_best.astype(int))
        for cycle in range(len(names)):
            add(cycle_quality_feature(cycle + 1), calls.cycle_quality[:, cycle].astype(float))

        if self.show_window:
            workspace.display_data.rows = [
                [i + 1, str(calls.called[i]), str(calls.gene[i]), f"{calls.score[i]:.2f}"]
                for i in range(min(n_foci, 50))
            ]

    def display(self, workspace, figure):
        figure.set_subplots((1, 1))
        figure.subplot_table(
            0,
            0,
            workspace.display_data.rows,
            col_labels=["Focus", "Called", "Gene", "Score"],
        )

    # ----------------------------------------------------------- measurements
    def feature_types(self):
        features = [
            ("Called", VARCHAR),
            ("Quality", COLTYPE_FLOAT),
            ("MatchedBarcode", VARCHAR),
            ("Gene", VARCHAR),
            ("MatchScore", COLTYPE_FLOAT),
            ("PerfectMatch", COLTYPE_INTEGER),
            ("NumBestMatches", COLTYPE_INTEGER),
        ]
        features += [
            (cycle_quality_feature(cycle), COLTYPE_FLOAT)
            for cycle in range(1, self.n_cycles.value + 1)
        ]
        return features

    def get_measurement_columns(self, pipeline):
        return [
            (self.objects_name.value, f"{CATEGORY}_{feature}", coltype)
            for feature, coltype in self.feature_types()
        ]

    def get_categories(self, pipeline, object_name):
        return [CATEGORY] if object_name == self.objects_name.value else []

    def get_measurements(self, pipeline, object_name, category):
        if object_name == self.objects_name.value and category == CATEGORY:
            return [feature for feature, _ in self.feature_types()]
        return []

    def volumetric(self):
        return False
