"""Evaluation of mixing systems: objective metrics (numpy, no torch) and reports."""
