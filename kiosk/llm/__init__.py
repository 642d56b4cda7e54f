"""LLM backends behind one small protocol (see backend.py)."""
