"""The training side of each modality, one file each: a ModalityTraining subclass registered with
``train.modalities.base.register_training`` under the name edge.modalities registers.

Every module here is imported on the first lookup; a module must import nothing heavy at module
level (TensorFlow, scikit-learn and matplotlib load where a method needs them).
"""
