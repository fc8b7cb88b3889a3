"""What looks at a running service without changing it: status lines, metrics, Home Assistant, the page."""
