"""Desktop training for vigil: learns detectors from recordings, exports int8/float32 TFLite bundles.

Depends on TensorFlow/Keras, scikit-learn and matplotlib (the ``train`` extra) and imports
``edge.features`` so that training and the gateway compute features with the same code.
"""
