"""Feature code shared, bit for bit, by training (``train``) and the gateway (``edge``)."""

from edge.features.spec import FEATURE_SETS, FeatureSpec

__all__ = ["FEATURE_SETS", "FeatureSpec"]
