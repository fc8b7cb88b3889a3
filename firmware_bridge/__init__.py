"""The wire protocol between the wearable's firmware and the gateway (see PROTOCOL.md).

protocol.py defines it once; codec.py encodes and decodes frames, reassembly.py places them in
the stream, simulator.py plays a recording as the wearable would, cheader.py generates the C
header and test vectors for firmware. Depends on NumPy only; ``edge`` imports it, never the reverse.
"""
