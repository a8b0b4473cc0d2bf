"""Evaluation data: labels for the project's shared recordings, joined with their text at evaluation time."""
