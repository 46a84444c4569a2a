#!/usr/bin/env python3
"""Helper of scripts/regen-fixtures and scripts/check-fixtures (golden contract fixtures).

The binary fixtures (X.binpb) are written by `protoc --encode`; this helper only reads
them, with the Python `protobuf` package, an implementation independent of ours:

  fixtures.py messages DESCRIPTOR_SET
      Print the full names of all messages of package nkudo.v1 (nested ones included,
      synthetic map-entry messages excluded), sorted, one per line.
  fixtures.py regen DESCRIPTOR_SET FIXTURE_DIR
      For every X.txtpb: decode X.binpb, check it equals the text fixture parsed by
      Python, write X.json (canonical proto3 JSON, proto field names, fields without
      presence always printed, indent 2, UTF-8) and write index.txt.
  fixtures.py check DESCRIPTOR_SET FIXTURE_DIR ENCODED_DIR
      ENCODED_DIR holds freshly protoc-encoded X.binpb files. Fail (listing the files)
      when a contract message has no fixture, a fixture names no contract message, or a
      committed X.json / index.txt differs from what `regen` would write.
"""

import os
import sys

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, text_format

try:
    from google.protobuf import message_factory

    def _message_class(desc):
        return message_factory.GetMessageClass(desc)
except ImportError:  # pragma: no cover - very old protobuf
    from google.protobuf import reflection

    def _message_class(desc):
        return reflection.message_factory.MessageFactory().GetPrototype(desc)

PACKAGE = "nkudo.v1"


def load(descriptor_set_path):
    fds = descriptor_pb2.FileDescriptorSet()
    with open(descriptor_set_path, "rb") as f:
        fds.ParseFromString(f.read())
    pool = descriptor_pool.DescriptorPool()
    for file_proto in fds.file:  # --include_imports writes dependencies first
        pool.Add(file_proto)
    return fds, pool


def contract_messages(fds):
    names = []

    def walk(prefix, messages):
        for m in messages:
            if m.options.map_entry:
                continue
            full = f"{prefix}.{m.name}"
            names.append(full)
            walk(full, m.nested_type)

    for f in fds.file:
        if f.package == PACKAGE:
            walk(PACKAGE, f.message_type)
    return sorted(names)


def fixture_names(fixture_dir):
    return sorted(n[: -len(".txtpb")] for n in os.listdir(fixture_dir) if n.endswith(".txtpb"))


def to_json(msg):
    kwargs = dict(preserving_proto_field_name=True, indent=2)
    try:
        text = json_format.MessageToJson(msg, always_print_fields_with_no_presence=True, ensure_ascii=False, **kwargs)
    except TypeError:  # protobuf < 5.26 spells the option differently
        text = json_format.MessageToJson(msg, including_default_value_fields=True, ensure_ascii=False, **kwargs)
    return text + "\n"


def render(pool, fixture_dir, name, binpb_path):
    """Returns the JSON text of fixture `name`, decoded from `binpb_path`."""
    cls = _message_class(pool.FindMessageTypeByName(name))
    from_binary = cls()
    with open(binpb_path, "rb") as f:
        from_binary.ParseFromString(f.read())
    from_text = cls()
    with open(os.path.join(fixture_dir, name + ".txtpb"), encoding="utf-8") as f:
        text_format.Parse(f.read(), from_text, descriptor_pool=pool)
    if from_binary != from_text:
        raise SystemExit(f"{name}: protoc's binary encoding and Python's text parse disagree")
    if from_binary.FindInitializationErrors():
        raise SystemExit(f"{name}: not initialized")
    return to_json(from_binary)


def index_text(names):
    return "".join(n + "\n" for n in names)


def write_if_changed(path, text):
    old = None
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            old = f.read()
    if old != text:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)


def cmd_messages(ds):
    fds, _ = load(ds)
    sys.stdout.write(index_text(contract_messages(fds)))


def cmd_regen(ds, fixture_dir):
    fds, pool = load(ds)
    known = set(contract_messages(fds))
    names = fixture_names(fixture_dir)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit("fixtures for messages not in the contract: " + ", ".join(unknown))
    for name in names:
        text = render(pool, fixture_dir, name, os.path.join(fixture_dir, name + ".binpb"))
        write_if_changed(os.path.join(fixture_dir, name + ".json"), text)
    write_if_changed(os.path.join(fixture_dir, "index.txt"), index_text(names))
    missing = sorted(known - set(names))
    if missing:
        print("warning: contract messages without a fixture: " + ", ".join(missing), file=sys.stderr)


def cmd_check(ds, fixture_dir, encoded_dir):
    fds, pool = load(ds)
    known = contract_messages(fds)
    names = fixture_names(fixture_dir)
    problems = []
    for n in sorted(set(known) - set(names)):
        problems.append(f"missing fixture: {n}.txtpb (message of the contract)")
    for n in sorted(set(names) - set(known)):
        problems.append(f"orphan fixture: {n}.txtpb (no such message in the contract)")
    for n in names:
        if n not in known:
            continue
        encoded = os.path.join(encoded_dir, n + ".binpb")
        if not os.path.exists(encoded):
            continue  # encoding failed; reported by the shell script
        expected = render(pool, fixture_dir, n, encoded)
        committed = os.path.join(fixture_dir, n + ".json")
        if not os.path.exists(committed):
            problems.append(f"missing: {n}.json")
        else:
            with open(committed, encoding="utf-8") as f:
                if f.read() != expected:
                    problems.append(f"stale: {n}.json")
    index = os.path.join(fixture_dir, "index.txt")
    current = None
    if os.path.exists(index):
        with open(index, encoding="utf-8") as f:
            current = f.read()
    if current != index_text(names):
        problems.append("stale: index.txt")
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


def main(argv):
    if len(argv) >= 2 and argv[0] == "messages" and len(argv) == 2:
        cmd_messages(argv[1])
        return 0
    if len(argv) == 3 and argv[0] == "regen":
        cmd_regen(argv[1], argv[2])
        return 0
    if len(argv) == 4 and argv[0] == "check":
        return cmd_check(argv[1], argv[2], argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
