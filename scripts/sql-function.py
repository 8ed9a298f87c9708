#!/usr/bin/env python3
"""scripts/sql-function.py NAME... -- print the definitions of functions
from the install parts sql/NN_*.sql as CREATE OR REPLACE FUNCTION, with
their COMMENT, for pasting into an upgrade script: the upgrade then carries
exactly the text a fresh install has.  NAME is schema-qualified, e.g.
protector_internal.booking_workflow."""
import glob
import re
import sys


def definitions(text):
    """(name, block) for every CREATE FUNCTION ... $$; plus its COMMENT."""
    pattern = re.compile(r'^CREATE FUNCTION ([a-z_]+\.[a-z_0-9]+)\(', re.M)
    for match in pattern.finditer(text):
        start = match.start()
        body = text.index('$$', text.index('AS $$', start) + 5)
        end = text.index(';', body) + 1
        comment = re.compile(r'\nCOMMENT ON FUNCTION ' + re.escape(match.group(1)) + r'\(.*?\';\n', re.S)
        found = comment.search(text, end)
        if found and found.start() == end:
            end = found.end() - 1
        yield match.group(1), text[start:end]


def main(names):
    text = ''.join(open(p).read() for p in sorted(glob.glob('sql/[0-9][0-9]_*.sql')))
    found = dict(definitions(text))
    missing = [n for n in names if n not in found]
    if missing:
        sys.exit('not in sql/NN_*.sql: ' + ', '.join(missing))
    for name in names:
        print(found[name].replace('CREATE FUNCTION', 'CREATE OR REPLACE FUNCTION', 1) + '\n')


if __name__ == '__main__':
    main(sys.argv[1:])
