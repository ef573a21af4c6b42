"""The station kiosk: the page station staff live with, served by the gateway process itself.

``Kiosk`` (``gateway.kiosk.hub``) is what the daemon builds when the TOML file has a
``[kiosk]`` table; docs/kiosk.md describes the page and docs/gateway.md its wiring. This
package file stays empty of imports: the settings module is read by ``gateway.config`` on every
start, kiosk or not.
"""
