"""Exports of the SLO definitions to other tools' formats."""
