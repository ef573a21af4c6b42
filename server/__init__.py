"""Shouwang central server: MQTT ingest, regions, devices, cases, REST API."""
