"""Retrieval quality on judged queries (BEIR folders) and the measures that score it."""
