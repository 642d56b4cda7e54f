"""Venue knowledge: Markdown entries, a SQLite FTS5 index, sentence embeddings, grounding."""
