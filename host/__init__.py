"""Sparrow host: the trainer/aggregator."""
