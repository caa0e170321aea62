import re

import pytest

# SPEC 4.1 default layout, written independently of the generator's naming code.
SPEC_IMAGE_PATH = re.compile(
    r"^(?P<dataset>[^/]+)/(?P<source>[^/]+)/(?P<batch>[^/]+)/images/(?P<plate>[^/]+)/"
    r"(?:(?P<cp_mag>\d{2})X_CP_(?P=plate)(?P<stamp>_\d{8}_\d{6}_\d{3})?"
    r"|(?P<sbs_mag>\d{2})X_c(?P<cycle>\d{1,2})_SBS-(?P=cycle)(?:_\d{8}_\d{6}_\d{3})?)/"
    r"Well(?P<well>[A-Z]{1,2}\d{1,2})_Point(?P=well)_(?P<site>\d{4,})_"
    r"Channel(?P<channels>[^_/]+)_Seq(?P<seq>\d{4,})\.ome\.tiff$"
)


@pytest.fixture
def spec_image_path() -> re.Pattern[str]:
    return SPEC_IMAGE_PATH
