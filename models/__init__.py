"""Language models built on minigrad, with their data pipeline (data.py)."""
