# Builds the app logic named in the config. Kept apart from the glue so tests and the virtual
# board get exactly the objects a device gets.
import swbutton
import swdoor


def make_app(cfg):
    app = cfg.get("app", "panic_button")
    if app == "panic_button":
        return swbutton.PanicButton(
            debounce_ms=cfg.get("debounce_ms", 50),
            long_ms=cfg.get("long_press_ms", 1500),
            double_ms=cfg.get("double_press_ms", 1000),
            cancel_grace_ms=cfg.get("cancel_grace_ms", 30000),
        )
    if app == "door_sensor":
        return swdoor.DoorSensor(
            debounce_ms=cfg.get("debounce_ms", 100),
            open_level=cfg.get("open_level", 1),
        )
    if app == "rf_bridge":
        return RfBridge()
    raise ValueError("unknown app %r" % (app,))


class RfBridge:
    # The bridge has no contact of its own; its heartbeat reports what the receiver hears.
    def __init__(self):
        self.decoder = None
        self.filter = None

    def update(self, now_ms, level):
        return []

    def status(self):
        if self.decoder is None:
            return []
        return [("frames", self.decoder.frames), ("noise", self.decoder.aborted)]
