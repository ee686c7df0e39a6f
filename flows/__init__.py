"""Prefect flows and deployments for newsflow: orchestration only."""
