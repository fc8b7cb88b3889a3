"""Modalities, one file each: a Modality subclass registered with ``edge.modalities.base.register_modality``.

Every module here is imported on the first lookup; a module must import nothing heavy at module
level (readers and pipelines are imported where a method needs them). The modalities sit below
the commands: ``edge.commands`` imports them, never the other way round.
"""
