"""The pipeline, built in Python: a function task feeding a script run as a notebook."""

from pathlib import Path

from ploomber import DAG
from ploomber.products import File
from ploomber.tasks import NotebookRunner, PythonCallable

from my_pipeline import tasks

HERE = Path(__file__).parent


def make_dag():
    """The DAG `ploomber build` builds (pipeline.yaml: `location: my_pipeline.dag.make_dag`)."""
    dag = DAG()
    raw = PythonCallable(tasks.raw, File("products/raw.csv"), dag, name="raw", params={"rows": 5})
    report = NotebookRunner(HERE / "scripts" / "report.py",
                            {"nb": File("products/report.ipynb"), "data": File("products/total.txt")},
                            dag, name="report", params={"factor": 3}, kernelspec_name="python3")
    raw >> report
    return dag
