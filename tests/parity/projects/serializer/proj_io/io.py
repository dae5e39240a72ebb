"""The pipeline's serializer and unserializer, as Ploomber's docs write them: function tasks
return their data and these write and read it by the product's extension (JSON and text
with Ploomber's defaults, pickle for anything else)."""

from ploomber.io import serializer, unserializer


@serializer(fallback=True, defaults=[".json", ".txt"])
def write(obj, product):
    """Write ``obj`` to ``product`` (the decorator picks the format)."""


@unserializer(fallback=True, defaults=[".json", ".txt"])
def read(product):
    """Read an upstream product back (the decorator picks the format)."""
