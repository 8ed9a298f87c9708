#!/usr/bin/env python3
"""scripts/sql-function.py [--update FILE] NAME... -- print the definitions
of functions from the install parts sql/NN_*.sql as CREATE OR REPLACE
FUNCTION, with their COMMENT, for pasting into an upgrade script: the
upgrade then carries exactly the text a fresh install has.  NAME is
schema-qualified, e.g. protector_internal.booking_workflow.

With --update FILE (an unreleased upgrade script), each function already
defined in FILE is replaced there, in place, by its current text, and the
others are appended at its end: every function stays defined once, in its
final text."""
import glob
import re
import sys


def definitions(text):
    """(name, block) for every CREATE FUNCTION ... $$; plus its COMMENT."""
    pattern = re.compile(r'^CREATE FUNCTION ([a-z_]+\.[a-z_0-9]+)\(', re.M)
    for match in pattern.finditer(text):
        start = match.start()
        end = text.index(';', start) + 1
        opening = text.find('AS $$', start)
        # (a ';' in a comment of the header does not end the statement
        # when its body follows before the next statement)
        if opening != -1 and (opening < end or text.find('\nCREATE ', start + 1, opening) == -1):
            # a body in $$: the statement ends after its closing $$
            end = text.index(';', text.index('$$', opening + 5)) + 1
        comment = re.compile(r'\nCOMMENT ON FUNCTION ' + re.escape(match.group(1)) + r'\(.*?\';\n', re.S)
        found = comment.search(text, end)
        if found and found.start() == end:
            end = found.end() - 1
        yield match.group(1), text[start:end]


# the line before an upgrade script's closing statements (the REVOKE that
# covers every function it added): appended functions go before it
LAST = '-- (last: every function added above'


def update(path, names, found):
    """Replace each function's block in path, or append it."""
    text = open(path).read()
    blocks = dict(definitions(text.replace('CREATE OR REPLACE FUNCTION', 'CREATE FUNCTION')))
    for name in names:
        current = found[name].replace('CREATE FUNCTION', 'CREATE OR REPLACE FUNCTION', 1)
        if name in blocks:
            start = re.search(r'^CREATE (OR REPLACE )?FUNCTION ' + re.escape(name) + r'\(', text, re.M).start()
            replaces = text.startswith('CREATE OR REPLACE', start)
            end = start + len(blocks[name]) + (len('OR REPLACE ') if replaces else 0)
            # (a function the update creates stays a plain CREATE: it
            # fails rather than replace someone's function of that name)
            text = text[:start] + (current if replaces else found[name]) + text[end:]
        else:
            # (before the script's last statements, which follow LAST)
            tail = text.find(LAST)
            if tail == -1:
                text = text.rstrip('\n') + '\n\n' + current + '\n'
            else:
                text = text[:tail].rstrip('\n') + '\n\n' + current + '\n\n' + text[tail:]
    open(path, 'w').write(text)


def main(args):
    path = None
    if args[:1] == ['--update']:
        path, args = args[1], args[2:]
    text = ''.join(open(p).read() for p in sorted(glob.glob('sql/[0-9][0-9]_*.sql')))
    found = dict(definitions(text))
    missing = [n for n in args if n not in found]
    if missing:
        sys.exit('not in sql/NN_*.sql: ' + ', '.join(missing))
    # (a name is one block here: of an overloaded name the blocks of one
    # overload were cut at the length of another's, mangling the script)
    texts = [text] + ([open(path).read().replace('CREATE OR REPLACE FUNCTION', 'CREATE FUNCTION')] if path else [])
    overloaded = sorted({n for n in args for t in texts if [m for m, _ in definitions(t)].count(n) > 1})
    if overloaded:
        sys.exit('overloaded, edit by hand: ' + ', '.join(overloaded))
    if path:
        update(path, args, found)
        return
    for name in args:
        print(found[name].replace('CREATE FUNCTION', 'CREATE OR REPLACE FUNCTION', 1) + '\n')


if __name__ == '__main__':
    main(sys.argv[1:])
