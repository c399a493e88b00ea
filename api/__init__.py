"""The product's face: Flask app (JSON API and pages) and the `python -m api` command line."""
