# Retry with backoff until acked, NK stops, alarms are never dropped.
import swlog
import swsend

s = swsend.Sender(base_ms=1000, max_ms=8000, cap=4)
print([s.delay_ms(n) for n in range(1, 8)])
s.add(1, b"one\n", True, 0)
sent = []
for now in range(0, 40001, 100):
    for line in s.due(now):
        sent.append((now, line))
    if now == 30000:
        print("settled", s.settle(1), s.settle(1))
print(sent)
print("pending", s.pending, s.next_due())

s = swsend.Sender(base_ms=500, max_ms=4000, cap=3)
s.add(1, b"hb1\n", False, 0)
s.add(2, b"panic\n", True, 0)
s.add(3, b"hb2\n", False, 0)
print(s.add(4, b"panic2\n", True, 0), [e[0] for e in s.pending], s.dropped)
print(s.add(5, b"panic3\n", True, 0), [e[0] for e in s.pending], s.dropped)
print(s.add(6, b"panic4\n", True, 0), [e[0] for e in s.pending], s.dropped)
print(s.add(7, b"hb3\n", False, 0), [e[0] for e in s.pending], s.dropped)
print(s.due(0), s.due(499), s.due(500))

kept = []
for i in range(40):
    swlog.remember(kept, i)
print("history", kept[0], kept[-1], len(kept))
