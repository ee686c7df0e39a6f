"""Build the JavaScript the report inlines: Vega, Vega-Lite (the version altair writes specs for)
and Vega-Embed with all their dependencies, as vl-convert bundles them, gzipped byte for byte
reproducibly into pipeline/report_assets/vega.js.gz, with the licence notice beside it (NOTICE.txt).

    python -m workbench.vega_bundle

vl-convert-python (84 MB, a dev dependency) is needed only here; newsflow ships the result.
Run it again after upgrading altair or vl-convert-python (tests/pipeline/test_report.py fails
until the shipped file is what this command builds)."""

from __future__ import annotations

import gzip
import hashlib

import altair
import vl_convert

from pipeline.report import VEGA_BUNDLE, VEGA_NOTICE

_BSD_3 = """Redistribution and use in source and binary forms, with or without
modification, are permitted provided that the following conditions are met:

1. Redistributions of source code must retain the above copyright notice, this
   list of conditions and the following disclaimer.

2. Redistributions in binary form must reproduce the above copyright notice,
   this list of conditions and the following disclaimer in the documentation
   and/or other materials provided with the distribution.

3. Neither the name of the copyright holder nor the names of its contributors
  may be used to endorse or promote products derived from this software
  without specific prior written permission.

THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS"
AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE
IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE ARE
DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT OWNER OR CONTRIBUTORS BE LIABLE
FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL
DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR
SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER
CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY,
OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE
OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.
"""


def vega_lite_version() -> str | None:
    """The Vega-Lite minor version altair writes specs for, if vl-convert has it (else its newest)."""
    wanted = ".".join(altair.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    return wanted if wanted in vl_convert.get_vegalite_versions() else None


def build_bundle() -> bytes:
    javascript = vl_convert.javascript_bundle(vl_version=vega_lite_version())
    return gzip.compress(javascript.encode("utf-8"), compresslevel=9, mtime=0)


_ISC_D3 = """Copyright 2010-2023 Mike Bostock

Permission to use, copy, modify, and/or distribute this software for any purpose
with or without fee is hereby granted, provided that the above copyright notice
and this permission notice appear in all copies.

THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES WITH
REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF MERCHANTABILITY AND
FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR ANY SPECIAL, DIRECT,
INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES WHATSOEVER RESULTING FROM LOSS
OF USE, DATA OR PROFITS, WHETHER IN AN ACTION OF CONTRACT, NEGLIGENCE OR OTHER
TORTIOUS ACTION, ARISING OUT OF OR IN CONNECTION WITH THE USE OR PERFORMANCE OF
THIS SOFTWARE.
"""


def notice() -> str:
    """Which libraries vega.js.gz holds, at which versions, under which licence and holder (the
    bundle keeps no licence comments of its own, so the notices are here)."""
    return (
        "pipeline/report_assets/vega.js.gz is the JavaScript bundle vl-convert-python "
        f"{vl_convert.__version__} builds (python -m workbench.vega_bundle):\n"
        f"  Vega {vl_convert.get_vega_version()}: BSD-3-Clause, Copyright (c) 2013, Trifacta Inc.\n"
        f"  Vega-Lite {vega_lite_version() or 'newest'}, Vega-Embed {vl_convert.get_vega_embed_version()}, "
        f"vega-themes {vl_convert.get_vega_themes_version()}: BSD-3-Clause, Copyright (c) 2015, University of\n"
        "    Washington Interactive Data Lab\n"
        "  d3's modules (d3-array, d3-scale, d3-shape, d3-geo, ...): ISC, Copyright 2010-2023 Mike Bostock\n"
        "  and the few other modules they depend on, each under its own permissive licence (MIT, ISC, BSD).\n\n"
        "Vega's licence (BSD-3-Clause):\n\n"
        "Copyright (c) 2013, Trifacta Inc.\nAll rights reserved.\n\n"
        + _BSD_3.replace("the name of the copyright holder nor", "the name of Trifacta Inc. nor")
        + "\nVega-Lite's, Vega-Embed's and vega-themes' licence (BSD-3-Clause):\n\n"
        "Copyright (c) 2015, University of Washington Interactive Data Lab.\nAll rights reserved.\n\n" + _BSD_3
        + "\nd3's licence (ISC), for its modules in the bundle:\n\n" + _ISC_D3
    )


def main() -> None:
    bundle = build_bundle()
    VEGA_BUNDLE.write_bytes(bundle)
    VEGA_NOTICE.write_text(notice(), encoding="utf-8")
    print(f"{VEGA_BUNDLE}: {len(bundle)} bytes, sha256 {hashlib.sha256(bundle).hexdigest()}")


if __name__ == "__main__":
    main()
