"""Recorded files read in blocks: audio files, EDF/EDF+, WFDB, KPI CSV, feature files."""
