"""JSON Schema of the spec language, generated from the models, for editors and CI."""

from __future__ import annotations

from ..frontend.models import MLProject, Repository
from ..middle.check import CheckedRepository
from . import Document

SCHEMA_DIR = "schema"
SCHEMAS = {"MLProject": (MLProject, "mlproject.schema.json"),
           "Repository": (Repository, "repository.schema.json")}


def schema_for(kind: str) -> dict:
    model, filename = SCHEMAS[kind]
    schema = model.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://mlopsc.dev/schemas/v1/{filename}", **schema}


def emit(checked: CheckedRepository) -> list[Document]:
    return [Document(f"{SCHEMA_DIR}/{filename}", schema_for(kind), "json")
            for kind, (_, filename) in SCHEMAS.items()]
