"""What an evaluation job runs on the Ray cluster (``python -m workers.evaluate.launch JOB.json``)."""
