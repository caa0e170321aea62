"""
StarryNightCompensateColors
===========================

**StarryNightCompensateColors** (named apart from the CellProfiler-plugins module ``CompensateColors``, which has other settings; pipelines saved with the old name ``CompensateColors`` by StarryNight still load through its runner) removes spectral crosstalk between the four base channels
(A, C, G, T) of sequencing-by-synthesis (SBS) images, cycle by cycle.

The dyes of neighbouring bases bleed into each other's channels (typically A into C and
G into T). For each base, the module takes the pixels where that base is the brightest
channel (optionally only pixels brighter than a percentile, and only inside objects),
uses their median intensity vector as that base's column of a 4x4 crosstalk matrix
(normalised so each base keeps its brightness in its own channel), and multiplies every
pixel by the inverse of that matrix, clipping negative values to 0.

Background is subtracted first, so the outputs are background-subtracted too: by default
each channel's median (spots cover few pixels); optionally a local background (white
top-hat: the image minus its grey opening with a square wider than a spot), which also
removes cell autofluorescence under the spots and gives closer matrices, at ~5x the
cost; or none.

Input and output images are named by patterns with the fields ``{cycle}`` (1, 2, ...,
format specs such as ``{cycle:02d}`` allowed) and ``{base}`` (A, C, G, T), so one
setting describes any number of cycles: with the pattern ``Cycle{cycle:02d}_{base}``
and 3 cycles the inputs are Cycle01_A, Cycle01_C, ..., Cycle03_T.

Measurements (per image): ``Crosstalk_<Cycle01|Pooled>_<Base>In<Channel>``, the matrix
entry for the signal of a base seen in a channel, and ``Crosstalk_<..>_Pixels<Base>``,
how many pixels estimated each column (below the minimum, the column is left as the
identity and a warning is logged).

============ ============ ===============
Supports 2D? Supports 3D? Respects masks?
============ ============ ===============
YES          NO           NO
============ ============ ===============
"""

import logging

import numpy
from cellprofiler_core.constants.measurement import COLTYPE_FLOAT, COLTYPE_INTEGER, IMAGE
from cellprofiler_core.image import Image
from cellprofiler_core.module import Module
from cellprofiler_core.setting import Binary, ValidationError
from cellprofiler_core.setting.choice import Choice
from cellprofiler_core.setting.subscriber import LabelSubscriber
from cellprofiler_core.setting.text import Float, ImageName, Integer, Text

from starrynight.algorithms import sbs

LOGGER = logging.getLogger(__name__)

CATEGORY = "Crosstalk"
REGION_WHOLE = "Whole image"
REGION_OBJECTS = "Pixels within objects"
MATRIX_PER_CYCLE = "One per cycle"
MATRIX_POOLED = "One pooled across cycles"
BACKGROUND_MEDIAN = "Median of each channel"
BACKGROUND_LOCAL = "Local (white top-hat)"
BACKGROUND_NONE = "None"
POOLED_TAG = "Pooled"


def cycle_tag(cycle: int) -> str:
    """The measurement tag of a cycle (1-based)."""
    return f"Cycle{cycle:02d}"


class StarryNightCompensateColors(Module):
    module_name = "StarryNightCompensateColors"
    category = "Image Processing"
    variable_revision_number = 1

    def create_settings(self):
        self.n_cycles = Integer(
            "Number of cycles",
            3,
            minval=1,
            doc="How many SBS cycles to compensate; cycles are numbered from 1.",
        )
        self.input_pattern = Text(
            "Input image name pattern",
            "Cycle{cycle:02d}_{base}",
            doc="Names of the raw base images, with the fields {cycle} and {base} "
            "(A, C, G, T). Every name it produces must be an image of an earlier module.",
        )
        self.output_pattern = Text(
            "Output image name pattern",
            "CompCycle{cycle:02d}_{base}",
            doc="Names of the compensated images, with the fields {cycle} and {base}.",
        )
        self.background = Choice(
            "Background to subtract",
            [BACKGROUND_MEDIAN, BACKGROUND_LOCAL, BACKGROUND_NONE],
            doc=f"*{BACKGROUND_MEDIAN}*: one value per channel and image. "
            f"*{BACKGROUND_LOCAL}*: the image minus its grey opening, which also removes "
            "background that varies across the image (cell autofluorescence); slower. "
            "A background left in place is alike in all channels and biases the crosstalk "
            "estimate towards uniform.",
        )
        self.tophat_size = Integer(
            "Top-hat size (pixels, odd)",
            9,
            minval=3,
            doc=f"*(Used only with {BACKGROUND_LOCAL})* Side of the square; must exceed the "
            "spot diameter.",
        )
        self.region = Choice(
            "Estimate the crosstalk from",
            [REGION_WHOLE, REGION_OBJECTS],
            doc=f"*{REGION_WHOLE}*: all pixels (use a high percentile to skip background). "
            f"*{REGION_OBJECTS}*: only pixels inside the chosen objects, e.g. foci or cells.",
        )
        self.objects_name = LabelSubscriber(
            "Objects to estimate within",
            doc=f"*(Used only with {REGION_OBJECTS})* The objects whose pixels estimate "
            "the crosstalk.",
        )
        self.matrix_mode = Choice(
            "Crosstalk matrix",
            [MATRIX_PER_CYCLE, MATRIX_POOLED],
            doc="Estimate one matrix per cycle, or one from the pixels of all cycles "
            "together (steadier when cycles have few spots).",
        )
        self.percentile = Float(
            "Use only pixels brighter than this percentile",
            99.0,
            minval=0.0,
            maxval=99.999,
            doc="Pixels whose brightest channel lies below this percentile (0-100) of "
            "all pixels with signal (above 0 after background subtraction) are ignored; "
            "0 uses every pixel with signal. Spots should make up more than the remaining "
            "fraction of those pixels (on the synthetic demo data 95 lets cell "
            "autofluorescence in; 99 gives matrices within 0.1 of the truth, 0.06 with the "
            "local background). Within foci, about 50 keeps their brighter half, where "
            "noise disturbs the ratios least.",
        )
        self.min_pixels = Integer(
            "Minimum pixels per base",
            10,
            minval=1,
            doc="A base with fewer pixels than this keeps an identity column (no "
            "compensation for it) and a warning is logged.",
        )
        self.wants_max_image = Binary(
            "Save the maximum over all compensated images?",
            True,
            doc="Also produce the per-pixel maximum over every compensated base and "
            "cycle: a clean image to find foci in.",
        )
        self.max_image_name = ImageName(
            "Name the maximum image",
            "CompensatedMax",
            doc="*(Used only if the maximum image is saved)* Name of that image.",
        )

    def settings(self):
        return [
            self.n_cycles,
            self.input_pattern,
            self.output_pattern,
            self.background,
            self.tophat_size,
            self.region,
            self.objects_name,
            self.matrix_mode,
            self.percentile,
            self.min_pixels,
            self.wants_max_image,
            self.max_image_name,
        ]

    def visible_settings(self):
        result = [
            self.n_cycles,
            self.input_pattern,
            self.output_pattern,
            self.background,
        ]
        if self.background == BACKGROUND_LOCAL:
            result.append(self.tophat_size)
        result.append(self.region)
        if self.region == REGION_OBJECTS:
            result.append(self.objects_name)
        result += [self.matrix_mode, self.percentile, self.min_pixels, self.wants_max_image]
        if self.wants_max_image:
            result.append(self.max_image_name)
        return result

    # ------------------------------------------------------------------ names
    def input_names(self):
        return sbs.cycle_base_names(self.input_pattern.value, self.n_cycles.value)

    def output_names(self):
        return sbs.cycle_base_names(self.output_pattern.value, self.n_cycles.value)

    def matrix_tags(self):
        if self.matrix_mode == MATRIX_POOLED:
            return [POOLED_TAG]
        return [cycle_tag(cycle) for cycle in range(1, self.n_cycles.value + 1)]

    def other_providers(self, group):
        if group != "imagegroup":
            return []
        try:
            return [name for cycle in self.output_names() for name in cycle]
        except sbs.SBSInputError:
            return []

    def validate_module(self, pipeline):
        if self.background == BACKGROUND_LOCAL and self.tophat_size.value % 2 == 0:
            raise ValidationError("The top-hat size must be odd", self.tophat_size)
        for setting in (self.input_pattern, self.output_pattern):
            try:
                sbs.cycle_base_names(setting.value, self.n_cycles.value)
            except sbs.SBSInputError as exc:
                raise ValidationError(str(exc), setting) from None
        provided = pipeline.get_provider_dictionary("imagegroup", self)
        missing = [n for cycle in self.input_names() for n in cycle if n not in provided]
        if missing:
            raise ValidationError(
                f"No earlier module provides the image(s) {', '.join(missing)}",
                self.input_pattern,
            )
        inputs = {n for cycle in self.input_names() for n in cycle}
        clash = inputs & {n for cycle in self.output_names() for n in cycle}
        if clash:
            raise ValidationError(
                f"Output names {sorted(clash)} are also input names", self.output_pattern
            )

    # -------------------------------------------------------------------- run
    def run(self, workspace):
        image_set = workspace.image_set
        input_names = self.input_names()
        first = image_set.get_image(input_names[0][0], must_be_grayscale=True)
        # Background per cycle as it is read, so at most one raw cycle is held extra.
        stacks = [
            self.subtract_background(self.read_cycle(image_set, names, first.pixel_data.shape))
            for names in input_names
        ]
        mask = None
        if self.region == REGION_OBJECTS:
            labels = workspace.object_set.get_objects(self.objects_name.value).segmented
            if labels.shape != first.pixel_data.shape:
                raise ValueError(
                    f"StarryNightCompensateColors: objects {self.objects_name.value} are "
                    f"{labels.shape} but images are {first.pixel_data.shape}"
                )
            mask = labels > 0
        options = dict(percentile=self.percentile.value, min_pixels=self.min_pixels.value)
        if self.matrix_mode == MATRIX_POOLED:
            estimates = [sbs.estimate_crosstalk(stacks, mask=[mask] * len(stacks), **options)]
        else:
            estimates = [sbs.estimate_crosstalk(stack, mask=mask, **options) for stack in stacks]

        measurements = workspace.measurements
        for tag, estimate in zip(self.matrix_tags(), estimates, strict=True):
            self.record(measurements, tag, estimate)

        maximum = None
        for cycle, names in enumerate(self.output_names()):
            estimate = estimates[0] if len(estimates) == 1 else estimates[cycle]
            compensated = sbs.compensate(stacks[cycle], estimate.matrix)
            stacks[cycle] = None  # free the input cycle before the next one is compensated
            for b, name in enumerate(names):
                plane = numpy.ascontiguousarray(compensated[..., b])
                image_set.add(name, Image(plane, parent_image=first, convert=False))
            cycle_max = compensated.max(axis=-1)
            maximum = cycle_max if maximum is None else numpy.maximum(maximum, cycle_max)
        if self.wants_max_image:
            image_set.add(
                self.max_image_name.value, Image(maximum, parent_image=first, convert=False)
            )
        if self.show_window:
            workspace.display_data.matrices = [e.matrix.tolist() for e in estimates]
            workspace.display_data.tags = self.matrix_tags()

    def subtract_background(self, stack):
        if self.background == BACKGROUND_MEDIAN:
            return sbs.subtract_background(stack)
        if self.background == BACKGROUND_LOCAL:
            return sbs.subtract_local_background(stack, self.tophat_size.value)
        return stack

    @staticmethod
    def read_cycle(image_set, names, shape):
        planes = []
        for name in names:
            pixels = image_set.get_image(name, must_be_grayscale=True).pixel_data
            if pixels.shape != shape:
                raise ValueError(
                    f"StarryNightCompensateColors: image {name} is {pixels.shape}, expected {shape} "
                    "like the other base images"
                )
            planes.append(pixels)
        return numpy.stack(planes, axis=-1)

    def record(self, measurements, tag, estimate):
        for j, base in enumerate(sbs.BASES):
            for i, channel in enumerate(sbs.BASES):
                measurements.add_image_measurement(
                    f"{CATEGORY}_{tag}_{base}In{channel}", float(estimate.matrix[i, j])
                )
            measurements.add_image_measurement(
                f"{CATEGORY}_{tag}_Pixels{base}", int(estimate.pixels[j])
            )
        if estimate.fallback:
            LOGGER.warning(
                "StarryNightCompensateColors %s: too few pixels for base(s) %s (counts %s); left "
                "uncompensated",
                tag,
                ", ".join(estimate.fallback),
                estimate.pixels.tolist(),
            )

    def display(self, workspace, figure):
        tags = workspace.display_data.tags
        figure.set_subplots((1, 1))
        rows = []
        for tag, matrix in zip(tags, workspace.display_data.matrices, strict=True):
            for i, channel in enumerate(sbs.BASES):
                rows.append([tag, channel] + [f"{v:.3f}" for v in matrix[i]])
        figure.subplot_table(0, 0, rows, col_labels=["Matrix", "Channel", *sbs.BASES])

    # ----------------------------------------------------------- measurements
    def features(self):
        names = []
        for tag in self.matrix_tags():
            for base in sbs.BASES:
                names += [f"{tag}_{base}In{channel}" for channel in sbs.BASES]
                names.append(f"{tag}_Pixels{base}")
        return names

    def get_measurement_columns(self, pipeline):
        return [
            (
                IMAGE,
                f"{CATEGORY}_{feature}",
                COLTYPE_INTEGER if "_Pixels" in feature else COLTYPE_FLOAT,
            )
            for feature in self.features()
        ]

    def get_categories(self, pipeline, object_name):
        return [CATEGORY] if object_name == IMAGE else []

    def get_measurements(self, pipeline, object_name, category):
        if object_name == IMAGE and category == CATEGORY:
            return self.features()
        return []

    def volumetric(self):
        return False
