"""nbgov: governed, reproducible Jupyter notebooks as steps of an ML pipeline."""

__version__ = "0.1.0"
