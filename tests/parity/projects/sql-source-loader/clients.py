"""The database every SQL task of the pipeline uses."""

from pathlib import Path

from ploomber.clients import SQLAlchemyClient


def get():
    path = Path("products", "warehouse.db")
    # sqlite creates the file but not its folder
    path.parent.mkdir(parents=True, exist_ok=True)
    return SQLAlchemyClient(f"sqlite:///{path}")
