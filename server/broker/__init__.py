"""Running an MQTT broker for single-machine installs, the demo and tests."""
