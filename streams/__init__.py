"""Stream processing: the faust worker that turns raw activities into learning events.

Classification lives in `streams.classify` as pure functions that import nothing from faust.
"""
