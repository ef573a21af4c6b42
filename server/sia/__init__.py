"""The server's receiver for alarm panels reporting over IP (SIA DC-09).

``events`` turns a checked panel message into ``protocol.Event``s, ``receiver`` stores them and
answers the panel only after the commit, ``listener`` carries frames over TCP and UDP, and
``supervision`` opens a maintenance case for a panel whose link tests stop.
"""
