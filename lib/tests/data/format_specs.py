#!/usr/bin/env python3
# Golden values of Python's format() for exp's numeric format specs
# (python3 format_specs.py > format_specs.tsv, with Python 3.11):
# one line per case, VALUE<TAB>SPEC<TAB>RESULT (RESULT "!error" when Python raises).
import json, sys
ints = [0, 1, -1, 7, 42, -42, 255, 1234, 1234567, -1234567, 2**53 + 1, 2**63 - 1, -2**63, 2**64 - 1]
floats = [0.0, -0.0, 0.001, 0.1, 0.5, 1.0, 1.5, 2.5, -2.5, 0.125, 0.375, 2.675, 1234.5678,
          123456789.123, 1e-7, 1e-5, 0.0001, 1e16, 1e22, 1.7976931348623157e308, 5e-324, 9.9996,
          0.045, 3.14159, -0.00001, 1e100, 123.456, 99999.5, 0.99999, 12345678901234567890.0,
          -1234.5, 1e15, 123456789012345680.0, 0.07, 100.0, 1e-4, 9.5, 0.05]
specs = ['', 'd', '03d', '+d', ' d', '5d', '<5d', '>5d', '^5d', '=5d', '*^7d', '05d', '+05d', ',d',
         '_d', '010,d', '09,d', '08,d', '012_d', 'x', 'X', '#x', '#X', 'o', '#o', 'b', '#b', '_b',
         '#010x', '08_x', 'e', '.2e', '.0e', '#.0e', 'E', '.3E', '+.2e', '12.2e', '012.2e', 'f',
         '.4f', '.0f', '#.0f', '.2f', 'F', '10.3f', '<10.3f', '010.3f', '+.3f', ' .3f', ',.2f',
         '015,.2f', '_.1f', 'g', '.3g', '.1g', '.0g', '#.3g', 'G', '.3G', '.10g', '.17g', '#g', '%',
         '.1%', '.0%', '+.2%', ',.1%', 'z.2f', 'z.0f', 'z', '.3', '.1', '.0', '.10', '#.3', ',', '_',
         '010', '+', ' ', '=+10.2f', '0<8.2f', 'x<8d', '0=8d', '-d', '-.1f', '#', '#d', '.2d', 'zd',
         ',x', '_o', ',b', '08,.3e', '^+9.1e', '.25f', '.20e', '.20g', '020,.4f', '011_', '.3%']
out = []
for v in ints + floats:
    for s in specs:
        try:
            r = format(v, s)
        except (ValueError, OverflowError) as e:
            r = '!error'
        out.append(f"{json.dumps(v)}\t{s}\t{r}")
# Then random values and specs, the same every time.
import random
rng = random.Random(15)
for _ in range(3000):
    if rng.random() < 0.3:
        v = rng.choice([rng.randint(-10**6, 10**6), rng.randint(-2**63, 2**64 - 1)])
    else:
        v = rng.choice([-1, 1]) * 10 ** rng.uniform(-12, 22)
        if rng.random() < 0.3:
            v = round(v, rng.randint(0, 6))
    s = ''
    if rng.random() < 0.2:
        s += rng.choice(['', '*', '0']) + rng.choice('<>=^')
    s += rng.choice(['', '', '+', '-', ' '])
    s += rng.choice(['', '', '', 'z'])
    s += rng.choice(['', '', '#'])
    s += rng.choice(['', '', '0'])
    s += rng.choice(['', '', str(rng.randint(1, 25))])
    s += rng.choice(['', '', '', ',', '_'])
    s += rng.choice(['', '', '.' + str(rng.randint(0, 20))])
    s += rng.choice(['', 'd', 'b', 'o', 'x', 'X', 'e', 'E', 'f', 'F', 'g', 'G', '%'])
    try:
        r = format(v, s)
    except (ValueError, OverflowError):
        r = '!error'
    out.append(f"{json.dumps(v)}\t{s}\t{r}")
sys.stdout.write("\n".join(out) + "\n")
