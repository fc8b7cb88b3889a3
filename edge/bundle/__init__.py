"""Model bundles: the typed manifest and the folder of TFLite models it names."""
