"""Declare a CellProfiler pipeline in Python and write a `.cppipe` that loads exactly as declared.

    from starrynight.cellprofiler import cppipe as cp
    pipe = cp.Pipeline(modules=[
        cp.load_data(),
        cp.correct_illumination_calculate("DNA", "IllumDNA", filter_size=50),
        cp.save_images("IllumDNA", file_format="npy", single_name="Plate1_IllumDNA", when="Last cycle"),
    ])
    pipe.write(path)

Settings are addressed by their LABEL as CellProfiler shows it (the `label:value` text of a
`.cppipe`); a label that occurs twice in one module is addressed as `label#1`, `label#2`.
Repeated setting groups (e.g. the image list of CorrectIlluminationApply) are a `Group`:
the module attribute holding the list and the method that adds one entry. Unset settings
keep CellProfiler's defaults. `write` runs in CellProfiler's own Python: it instantiates the
real modules, sets settings by label, checks each value (a Choice outside its choices fails),
lets CellProfiler write the file and reloads it to prove that reading by position gives back
every declared value. Modules are written at CellProfiler's current variable revision, so
values must be of that revision (CorrectIlluminationCalculate: "All", not "All: Across cycles").

LoadData's CSV location is a placeholder: the CSV is given at run time (`--data-file`).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, Field

from starrynight.cellprofiler import PLUGINS_DIR
from starrynight.cellprofiler.errors import CppipeBuildError
from starrynight.cellprofiler.locate import cellprofiler_env, cellprofiler_python

SettingValue = str | bool | int | float | list[str]
_SCRIPT = Path(__file__).with_name("_cp_build.py")


def setting_text(value: SettingValue) -> str:
    """How CellProfiler spells a value: Yes/No for booleans, lists joined by ", "."""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


class Group(BaseModel):
    """Repeated settings: `attr` is the module's list of groups, `add` the method adding one."""

    attr: str
    add: str
    items: list[dict[str, SettingValue]]


class Module(BaseModel):
    """One CellProfiler module (by its module name, e.g. "IdentifyPrimaryObjects" or a plugin's)."""

    name: str
    settings: dict[str, SettingValue] = Field(default_factory=dict)
    groups: list[Group] = Field(default_factory=list)

    def set(self, label: str, value: SettingValue) -> Module:
        """A copy with one more setting (by label)."""
        return self.model_copy(update={"settings": {**self.settings, label: value}})


class Pipeline(BaseModel):
    """An ordered list of modules; `write` produces the `.cppipe`."""

    modules: list[Module]

    def spec(self) -> dict:
        """The JSON handed to CellProfiler's Python (values already spelled as text)."""
        return {
            "modules": [
                {
                    "name": m.name,
                    "settings": {k: setting_text(v) for k, v in m.settings.items()},
                    "groups": [
                        {"attr": g.attr, "add": g.add,
                         "items": [{k: setting_text(v) for k, v in item.items()} for item in g.items]}
                        for g in m.groups
                    ],
                }
                for m in self.modules
            ]
        }

    def write(self, path: Path, plugins_directory: Path = PLUGINS_DIR, python: Path | None = None) -> Path:
        """Write the `.cppipe` atomically; raise CppipeBuildError naming the module/setting at fault."""
        path = Path(path)
        python = python or cellprofiler_python()
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="sn-cppipe-") as tmp:
            spec_file, report_file = Path(tmp) / "spec.json", Path(tmp) / "report.json"
            spec_file.write_text(json.dumps(self.spec()))
            fd, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            os.close(fd)
            try:
                argv = [str(python), str(_SCRIPT), str(spec_file), partial, str(report_file),
                        str(Path(plugins_directory).resolve())]
                proc = subprocess.run(argv, capture_output=True, text=True, cwd=tmp, timeout=300,
                                      env=cellprofiler_env())
                if proc.returncode != 0 or not report_file.exists():
                    tail = "\n".join(proc.stderr.strip().splitlines()[-20:])
                    raise CppipeBuildError(f"building {path} failed inside CellProfiler:\n{tail}")
                errors = json.loads(report_file.read_text())["errors"]
                if errors:
                    raise CppipeBuildError(f"cannot write {path}:\n" + "\n".join(f"  - {e}" for e in errors))
                os.replace(partial, path)
            finally:
                Path(partial).unlink(missing_ok=True)
        return path


# Typed helpers for the modules the steps use. Each returns a Module; `extra` adds any other
# setting by label.

def _m(name: str, settings: dict[str, SettingValue], extra: dict[str, SettingValue] | None,
       groups: Sequence[Group] = ()) -> Module:
    return Module(name=name, settings={**settings, **(extra or {})}, groups=list(groups))


def load_data(group_by: Sequence[str] = (), rescale: bool = True,
              extra: dict[str, SettingValue] | None = None) -> Module:
    """LoadData; the CSV comes from `--data-file`. `group_by`: metadata tags without `Metadata_`."""
    settings: dict[str, SettingValue] = {
        "Input data file location": "Default Input Folder|",
        "Name of the file": "load_data.csv",
        "Load images based on this data?": True,
        "Base image location": "Default Input Folder|",
        "Rescale intensities?": rescale,
        "Group images by metadata?": bool(group_by),
    }
    if group_by:
        settings["Select metadata tags for grouping"] = list(group_by)
    return _m("LoadData", settings, extra)


def correct_illumination_calculate(
    image: str, output: str, *, each_or_all: str = "All", method: str = "Regular",
    smoothing: str = "Median Filter", filter_size: int | None = None, rescale: str = "Yes",
    extra: dict[str, SettingValue] | None = None,
) -> Module:
    """Illumination function of `image` (revision 3 values: each_or_all is "Each" or "All")."""
    if each_or_all not in ("Each", "All"):
        raise CppipeBuildError(
            f"CorrectIlluminationCalculate: each_or_all={each_or_all!r}; revision 3 takes 'Each' or "
            "'All' (the revision-2 value 'All: Across cycles' silently computes per image)"
        )
    settings: dict[str, SettingValue] = {
        "Select the input image": image,
        "Name the output image": output,
        "Select how the illumination function is calculated": method,
        "Rescale the illumination function?": rescale,
        "Calculate function for each image individually, or based on all images?": each_or_all,
        "Smoothing method": smoothing,
    }
    if filter_size is not None:
        settings["Method to calculate smoothing filter size"] = "Manually"
        settings["Smoothing filter size"] = filter_size
    return _m("CorrectIlluminationCalculate", settings, extra)


def correct_illumination_apply(
    images: Sequence[tuple[str, str, str]], divide_or_subtract: str = "Divide",
    extra: dict[str, SettingValue] | None = None,
) -> Module:
    """Apply illumination functions: `images` is [(input, output, illum function), ...]."""
    items: list[dict[str, SettingValue]] = [
        {"Select the input image": i, "Name the output image": o,
         "Select the illumination function": f,
         "Select how the illumination function is applied": divide_or_subtract}
        for i, o, f in images
    ]
    return _m("CorrectIlluminationApply", {}, extra, [Group(attr="images", add="add_image", items=items)])


def resize(image: str, output: str, factor: float, interpolation: str = "Bilinear",
           extra: dict[str, SettingValue] | None = None) -> Module:
    """Resize by a factor (e.g. 0.25 to downsample before an illumination calculation)."""
    return _m("Resize", {
        "Select the input image": image, "Name the output image": output,
        "Resizing method": "Resize by a fraction or multiple of the original size",
        "X Resizing factor": factor, "Y Resizing factor": factor, "Interpolation method": interpolation,
    }, extra)


def save_images(
    image: str, *, file_format: str = "tiff", single_name: str | None = None,
    name_from: str | None = None, suffix: str = "", bit_depth: str = "16-bit integer",
    when: str = "Every cycle", extra: dict[str, SettingValue] | None = None,
) -> Module:
    """SaveImages into the output dir: a fixed `single_name`, or named after image `name_from`."""
    if (single_name is None) == (name_from is None):
        raise CppipeBuildError("save_images: give exactly one of single_name or name_from")
    settings: dict[str, SettingValue] = {
        "Select the type of image to save": "Image",
        "Select the image to save": image,
        "Saved file format": file_format,
        "Output file location": "Default Output Folder|",
        "Overwrite existing files without warning?": True,
        "When to save": when,
    }
    if single_name is not None:
        settings["Select method for constructing file names"] = "Single name"
        settings["Enter single file name"] = single_name
    else:
        settings["Select method for constructing file names"] = "From image filename"
        settings["Select image name for file prefix"] = name_from or ""
    if suffix:
        settings["Append a suffix to the image file name?"] = True
        settings["Text to append to the image name"] = suffix
    if file_format == "tiff":
        settings["Image bit depth"] = bit_depth
    return _m("SaveImages", settings, extra)


def identify_primary_objects(
    image: str, objects: str, diameter: tuple[int, int] = (10, 40), *,
    threshold_method: str = "Otsu", extra: dict[str, SettingValue] | None = None,
) -> Module:
    """Nuclei-style objects from `image` (global threshold, intensity declumping)."""
    return _m("IdentifyPrimaryObjects", {
        "Select the input image": image,
        "Name the primary objects to be identified": objects,
        "Typical diameter of objects, in pixel units (Min,Max)": f"{diameter[0]},{diameter[1]}",
        "Use advanced settings?": True,
        "Thresholding method#1": threshold_method,
    }, extra)


def identify_secondary_objects(
    primary: str, objects: str, image: str, *, method: str = "Propagation",
    threshold_method: str = "Otsu", extra: dict[str, SettingValue] | None = None,
) -> Module:
    """Cells grown from `primary` objects on `image`."""
    return _m("IdentifySecondaryObjects", {
        "Select the input objects": primary,
        "Name the objects to be identified": objects,
        "Select the method to identify the secondary objects": method,
        "Select the input image": image,
        "Thresholding method#1": threshold_method,
    }, extra)


def identify_tertiary_objects(larger: str, smaller: str, objects: str,
                              extra: dict[str, SettingValue] | None = None) -> Module:
    """E.g. cytoplasm = cells minus nuclei."""
    return _m("IdentifyTertiaryObjects", {
        "Select the larger identified objects": larger,
        "Select the smaller identified objects": smaller,
        "Name the tertiary objects to be identified": objects,
    }, extra)


def measure_object_intensity(images: Sequence[str], objects: Sequence[str],
                             extra: dict[str, SettingValue] | None = None) -> Module:
    return _m("MeasureObjectIntensity", {
        "Select images to measure": list(images), "Select objects to measure": list(objects)}, extra)


def measure_object_size_shape(objects: Sequence[str], extra: dict[str, SettingValue] | None = None) -> Module:
    return _m("MeasureObjectSizeShape", {"Select object sets to measure": list(objects)}, extra)


def measure_image_intensity(images: Sequence[str], extra: dict[str, SettingValue] | None = None) -> Module:
    return _m("MeasureImageIntensity", {"Select images to measure": list(images)}, extra)


def measure_correlation(images: Sequence[str], extra: dict[str, SettingValue] | None = None) -> Module:
    """MeasureColocalization, Pearson correlation only, across whole images: one
    `Correlation_Correlation_<A>_<B>` Image feature per pair of `images`."""
    return _m("MeasureColocalization", {
        "Select images to measure": list(images),
        "Select where to measure correlation": "Across entire image",
        "Run all metrics?": False,
        "Calculate correlation and slope metrics?": True,
        "Calculate the Manders coefficients?": False,
        "Calculate the Rank Weighted Colocalization coefficients?": False,
        "Calculate the Overlap coefficients?": False,
        "Calculate the Manders coefficients using Costes auto threshold?": False,
    }, extra)


def export_to_spreadsheet(prefix: str = "", extra: dict[str, SettingValue] | None = None) -> Module:
    """All measurements as CSVs in the output dir (Image.csv, <Objects>.csv, Experiment.csv)."""
    return _m("ExportToSpreadsheet", {
        "Output file location": "Default Output Folder|",
        "Export all measurement types?": True,
        "Add a prefix to file names?": bool(prefix),
        "Filename prefix": prefix or "MyExpt_",
        "Overwrite existing files without warning?": True,
    }, extra)


def overlay_outlines(image: str, output: str, outlines: Sequence[tuple[str, str]],
                     extra: dict[str, SettingValue] | None = None) -> Module:
    """Outlines of objects on `image`: `outlines` is [(objects, colour), ...]."""
    items: list[dict[str, SettingValue]] = [
        {"Select objects to display": o, "Select outline color": c} for o, c in outlines]
    return _m("OverlayOutlines", {
        "Display outlines on a blank image?": False,
        "Select image on which to display outlines": image,
        "Name the output image": output,
    }, extra, [Group(attr="outlines", add="add_outline", items=items)])


def rescale_intensity(image: str, output: str,
                      method: str = "Stretch each image to use the full intensity range",
                      extra: dict[str, SettingValue] | None = None) -> Module:
    return _m("RescaleIntensity", {
        "Select the input image": image, "Name the output image": output, "Rescaling method": method,
    }, extra)


def align(first: tuple[str, str], second: tuple[str, str], method: str = "Mutual Information",
          crop_mode: str = "Keep size", extra: dict[str, SettingValue] | None = None) -> Module:
    """Align `second` (input, output) to `first` (input, output)."""
    return _m("Align", {
        "Select the alignment method": method, "Crop mode": crop_mode,
        "Select the first input image": first[0], "Name the first output image": first[1],
        "Select the second input image": second[0], "Name the second output image": second[1],
    }, extra)
