"""The read side: questions and related papers over a committed index."""
