"""JSON Schemas (draft 2020-12) of the files the demo writes, shipped with the package.

``result`` (``<name>.json`` of an image), ``frame`` (a line of ``<name>.jsonl``), ``tracks``
(``<name>_tracks.json``), ``bvh_index`` (``<name>_bvh.json``) and ``outputs_record`` (the output folder's
``.posenet3d-outputs.json``); they refer to each other by their ``$id``
(``urn:posenet3d:schema:<name>``). Fields, units and frames: docs/output-format.md. Validating needs the
``jsonschema`` package (the ``test`` extra): ``validator("frame").validate(doc)``.
"""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path

FOLDER = Path(__file__).resolve().parent
NAMES = ("result", "frame", "tracks", "bvh_index", "outputs_record")


def schema_path(name: str) -> Path:
    """The schema file of ``name`` (one of :data:`NAMES`)."""
    if name not in NAMES:
        raise KeyError(f"unknown schema {name!r}; known: {', '.join(NAMES)}")
    return FOLDER / f"{name}.schema.json"


@cache
def load_schema(name: str) -> dict:
    return json.loads(schema_path(name).read_text())


def validator(name: str):
    """A :class:`jsonschema.Draft202012Validator` of schema ``name`` that resolves the other schemas."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    registry = Registry().with_resources(
        (load_schema(n)["$id"], Resource.from_contents(load_schema(n))) for n in NAMES)
    return Draft202012Validator(load_schema(name), registry=registry)
