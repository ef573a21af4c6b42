# CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF): the integrity check of every serial line.
# A 256-entry table costs about 1 KB of RAM and makes a 160-byte line cheap on a 160 MHz MCU.


def _make_table():
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return table


_TABLE = _make_table()


def crc16(data, crc=0xFFFF):
    table = _TABLE
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ table[(crc >> 8) ^ byte]
    return crc
