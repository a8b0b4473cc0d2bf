"""The fault-injection suite: each scenario runs the real processes on a real broker and chDB, injects one fault,
restarts what it killed, and judges what landed (`bench/faults.py` runs them and prints the table)."""
