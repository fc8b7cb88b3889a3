"""The gateway service (`vigil run`): TOML config, the asyncio daemon, systemd notification."""
