"""Detector kinds, one file each: a Detector subclass registered with ``edge.detectors.base.register``.

Every module here is imported when the first bundle is loaded; a kind must import nothing heavy
at module level (no TensorFlow, scikit-learn: the gateway never has them).
"""
