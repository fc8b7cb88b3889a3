"""vigil's gateway package: sources, ring buffers, features, TFLite detectors and deciders.

Importing ``edge`` never imports TensorFlow, scikit-learn, matplotlib or ``train``: the gateway
installs only the ``edge`` extra (numpy, scipy, a TFLite interpreter, I/O libraries).
"""

from edge.errors import VigilError

__all__ = ["VigilError", "__version__"]
__version__ = "0.1.0"
