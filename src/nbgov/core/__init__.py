"""The pure model of nbgov: no third-party tool (ploomber, mlflow, tornado, click) is imported here."""
