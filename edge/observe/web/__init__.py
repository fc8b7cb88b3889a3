"""The live page of a running gateway (`vigil run --http HOST:PORT`): server in `server`, assets in `static/`."""
