"""Sources: every input (recorded file, microphone, BLE device) as a Source of Blocks; each kind registers itself."""
