"""An installed argos package, as the engine loads it and the package manager lists it.

Its own module so that `engine` (which loads one) and `packages` (which installs one and checks
it loads in the engine) both depend on it, and never on each other in a circle.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class InstalledModel:
    from_code: str
    to_code: str
    name: str  # argospm name, e.g. "translate-id_en"
    version: str  # package_version from metadata.json, e.g. "1.9"
    path: Path  # the installed package folder
    target_prefix: str = ""  # multilingual packages ask for a target-language token

    @property
    def label(self) -> str:
        """What `Document.translation_model` records, e.g. "translate-id_en 1.9"."""
        return f"{self.name} {self.version}".strip()
