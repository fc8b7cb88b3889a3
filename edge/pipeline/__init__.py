"""The stream pipeline: ring buffer, framing, Stream, Decider; blocks in, scores and events out."""
