"""Run inside CellProfiler's Python: segment CP images with CellProfiler's own library modules.

argv: a JSON file {"images": [path, ...], "illum_dna": npy, "illum_cell": npy}; prints JSON
per image: nuclei and cell label counts and the nucleus label under each query point.
"""

import json
import sys

import cellprofiler_library.opts.threshold as threshold
import numpy as np
import tifffile
from cellprofiler_library.modules._identifyprimaryobjects import identifyprimaryobjects
from cellprofiler_library.modules._identifysecondaryobjects import identifysecondaryobjects


def main() -> None:
    job = json.loads(open(sys.argv[1]).read())
    illum_dna, illum_cell = np.load(job["illum_dna"]), np.load(job["illum_cell"])
    out = []
    for item in job["images"]:
        stack = tifffile.imread(item["path"]).astype(np.float32) / 65535
        nuclei = identifyprimaryobjects(stack[0] / illum_dna, threshold_method=threshold.Method.OTSU,
                                        min_size=10, max_size=30, exclude_border_objects=False)
        cells = identifysecondaryobjects(stack[1] / illum_cell, nuclei,
                                         threshold_method=threshold.Method.OTSU)
        points = np.asarray(item["points"], dtype=int).reshape(-1, 2)
        out.append({"nuclei": int(nuclei.max()), "cells": int(cells.max()),
                    "hit": nuclei[points[:, 0], points[:, 1]].tolist()})
    print(json.dumps(out))


main()
