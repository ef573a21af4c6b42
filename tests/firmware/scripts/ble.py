# AES-128 (FIPS-197 known answer), AES-CCM and BTHome adverts from the BLE node, as hex.
import binascii

import swaes
import swble
import swbthome
import swbutton
import swdoor


def hx(data):
    return binascii.hexlify(data).decode()


aes = swaes.Aes(binascii.unhexlify("000102030405060708090a0b0c0d0e0f"), native=False)
print("fips197", hx(aes.encrypt_block(binascii.unhexlify("00112233445566778899aabbccddeeff"))))
key = binascii.unhexlify("231d39c1d7cc1ab1aee224cd096db932")
aes = swaes.Aes(key, native=False)
mac = binascii.unhexlify("5448e68f80a5")
for n in (0, 5, 16, 17, 33):
    cipher, mic = swaes.ccm_encrypt(aes, bytes(range(13)), bytes(range(n)))
    print("ccm", n, hx(cipher), hx(mic))
print("plain", hx(swbthome.service_data(swbthome.objects(7, 90, None, None, swbthome.PRESS))))
print("sealed", hx(swbthome.service_data(swbthome.objects(7, 90, True, False, None), aes, mac, 0x11223344)))


class Counter:
    def __init__(self):
        self.n = 0

    def next(self):
        self.n += 1
        return self.n


def run(name, app, timeline, until, **options):
    node = swble.BleNode(app, Counter(), aes, mac, 0, battery=lambda: 64, name="SW-BTN", **options)
    events = list(timeline)
    level = 1
    on_air = None
    for now in range(0, until + 1, 5):
        while events and events[0][0] <= now:
            level = events.pop(0)[1]
        node.sample(now, level)
        adv = node.tick(now)
        if adv is not on_air:
            print(name, now, hx(adv) if adv is not None else None)
            on_air = adv
    print(name, "events", node.events)


presses = [(100, 0), (2100, 1), (9000, 0), (9100, 1), (9400, 0), (9500, 1)]
run("button", swbutton.PanicButton(), presses, 20000)
run("door", swdoor.DoorSensor(), [(0, 0), (1000, 1), (1500, 0)], 8000, heartbeat_ms=3000)
