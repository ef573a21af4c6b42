# ruff: noqa: F821  (DATA_DIR and STATE_DIR are set by the runner, see fw_runtimes.py)
# Sequence numbers stay monotonic across reboots while flash is written once per block.
import swseq

prefix = STATE_DIR + "/seq"
store = swseq.SeqStore(prefix, block=4)
print("boot1", [store.next() for _ in range(6)], store.writes)
store = swseq.SeqStore(prefix, block=4)
print("boot2", [store.next() for _ in range(3)], store.writes)
store = swseq.SeqStore(prefix, block=4)
print("boot3", store.peek(), store.next())

# A power cut while writing one slot leaves garbage there; the other slot still counts.
with open(prefix + ".a", "w") as f:
    f.write("12")
with open(prefix + ".b") as f:
    print("slot b", f.read().strip())
store = swseq.SeqStore(prefix, block=4)
print("torn a", store.next())
with open(prefix + ".b", "w") as f:
    f.write("999 0000\n")
store = swseq.SeqStore(prefix, block=4)
print("bad crc b", store.next())

fresh = swseq.SeqStore(STATE_DIR + "/fresh")
print("fresh", fresh.next(), fresh.next(), fresh.writes)

# A flash that refuses writes: numbers keep coming, the failure is counted.
broken = swseq.SeqStore(STATE_DIR + "/no/such/dir/seq", block=2)
print("broken", [broken.next() for _ in range(5)], broken.writes, broken.write_errors)
