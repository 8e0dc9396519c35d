"""Generated tokens -> TraceRecords (docs/trace.md), results and the outcome.

The model writes one 11-token group per executed slot (see
compiler/vocabulary.py).  The slot executed by a group is the previous
group's next-pc (the boot group's for the first); ``func``, ``pc``,
``depth`` and ``height`` come from the slot table and the call/return
groups; ``pushed`` and ``writes`` from the value bytes.  Pseudo slots
(local zeroing, br_table entries, the hidden function exit, halt, the
slots of a bulk-memory loop) are folded away; the bytes a bulk loop
stores join its instruction's one write.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from reference_model.compiler import vocabulary as vocab
from reference_model.compiler.opcodes import BY_NAME, MEMORY_ACCESS
from reference_model.program.encoding import REF_TYPES, ProgramPrompt, payload_of, two_cells
from reference_model.trace import TraceRecord, Write


@dataclass
class DecodedRun:
    records: list
    results: list  # bits per result (an i64: its 64 bits)
    outcome: str  # "halt" | "trap" | "exhaustion" | "incomplete" | "unsupported" (message: why)
    message: str = ""
    steps: int = 0  # executed slots (groups), pseudo ones included
    global_writes: dict = field(default_factory=dict)  # global index -> bits (last write)
    dropped: set = field(default_factory=set)  # data segments the run dropped (their flag cells written)
    pages: int | None = None  # the memory's size after the run, if memory.grow changed it
    # a call that may grow a table: per table (its size after the run, {index: payload} of the elements the
    # run wrote past its size before), None for a table it did not grow
    grown: list | None = None


class MalformedTrace(Exception):
    """The model emitted tokens that do not form a trace (a model bug, not a trap)."""


def decode_trace(prompt: ProgramPrompt, tokens: list) -> DecodedRun:
    slots = prompt.slots
    records: list = []
    pending_calls: list = []  # (index, callee's result count) of the call records awaiting their results
    depth, slot_no, i, groups = 0, prompt.entry, 0, 0
    result = ()
    gw: dict = {}
    dropped: set = set()
    cells = dict(prompt.cells)  # every cell as the model wrote it: a store's address operand is read here
    fp = prompt.fp0

    def end(outcome: str, results: list = (), message: str = "") -> DecodedRun:
        for k, n_results in pending_calls:  # a callee that never returned: no results, the height while it ran
            r = records[k]
            records[k] = TraceRecord(r.step, r.depth, r.func, r.pc, r.op, (), r.height - n_results, r.writes)
        return DecodedRun(records, list(results), outcome, message, steps=groups, global_writes=gw, dropped=dropped,
                          pages=cells.get(vocab.MEM_SIZE_CELL), grown=_grown(prompt, cells))

    while True:
        if i >= len(tokens):
            return end("incomplete")
        role, value = vocab.describe(tokens[i])
        if role != "OP":
            raise MalformedTrace(f"token {i}: expected an opcode, got {role}:{value}")
        op = vocab.op_name(value)
        slot = slots[slot_no]
        if op != slot.op:
            raise MalformedTrace(f"token {i}: fetched {op} at slot {slot_no}, which holds {slot.op}")
        if op == "halt" and slot_no:  # a call_indirect reached a function the model does not run
            return end("unsupported", [], slot.mnemonic)
        if op == "halt":
            return end("halt", list(result)[: prompt.results])
        group = tokens[i : i + vocab.GROUP]
        if len(group) > 1 and group[1] in vocab.TRAP_TOKENS:
            return end("trap", [], vocab.TRAP_TOKENS[group[1]])
        if len(group) > 1 and group[1] == vocab.EXHAUST:
            return end("exhaustion", [], "call stack exhausted")
        if len(group) > 1 and group[1] == vocab.FAR:
            return end("unsupported", [], f"{slot.mnemonic or 'a bulk-memory byte'} past the first 64 KiB "
                                           "of memory (the transformer addresses one page)")
        if len(group) < vocab.GROUP:
            return end("incomplete")
        fields = [vocab.describe(t) for t in group[1:]]
        want = vocab.ROLES[1:]
        if [r for r, _ in fields] != list(want):
            raise MalformedTrace(f"token {i}: group roles {[r for r, _ in fields]}")
        b = [v for _, v in fields]
        next_slot = b[0] | (b[1] << 8)
        if next_slot >= len(slots):
            raise MalformedTrace(f"token {i}: next pc {next_slot} is outside the program ({len(slots)} slots)")
        val = b[6] | (b[7] << 8) | (b[8] << 16) | (b[9] << 24)
        row = BY_NAME[op]
        groups += 1
        addr = b[4] | (b[5] << 8)
        if addr:
            cells[addr] = val
        v = val
        if slot.wide is not None:  # an i64: the two cells the model wrote (the traced slot wrote the last)
            lo = slot.wide if slot.wide_abs else fp + slot.wide
            v = cells.get(lo, 0) | (cells.get(lo + 1, 0) << 32)
        if slot.ref:  # a reference: its element word's payload (None: null)
            v = payload_of(slot.ref, v, prompt.payloads)
        if slot.pc is not None or op in ("return", "return.v"):
            height = slot.height
            if slot.mnemonic == "br_if" and (next_slot != slot.target) != (op == "if"):
                height = slot.height_fallthrough  # (an i64 br_if is an `if` row that jumps when not taken)
            if op == "br_table":
                height = slots[next_slot].height
            pushed = (v,) if row.pushed or slot.push else ()
            writes = ()
            if slot.mnemonic in ("local.set", "local.tee"):
                writes = (Write("local", slot.index, 0, v),)
            elif slot.mnemonic == "global.set":
                writes = (Write("global", slot.index, 0, v),)
                gw[slot.index] = v
            elif op == "table.write" and not slot.bulk:  # table.set: one element (-1: no function's word)
                writes = (Write("table", slot.index, addr - slot.base, payload_of(slot.ref, val, prompt.payloads)),)
            elif slot.gather:
                writes = (_gather(slot, fp, cells),)
            elif row.write == "mem":
                writes = (_store(slot, op, fp, cells, b, val),)
            if slot.pc is not None:
                records.append(TraceRecord(len(records), depth, slot.func, slot.pc, slot.mnemonic, pushed, height, writes))
            if op in ("call", "call_indirect"):
                pending_calls.append((len(records) - 1, slot.results))
                depth += 1
        if op in ("return", "return.v", "end.func", "end.func.v"):
            result = (v,) if op.endswith(".v") else ()
            if slot.multi:  # several cells: the results as the model left them at fp+0.. (an i64 in two cells)
                result, at = [], fp
                for t in slot.multi:
                    word = cells.get(at, 0) | (cells.get(at + 1, 0) << 32 if two_cells(t) else 0)
                    result.append(payload_of(t, word, prompt.payloads) if t in REF_TYPES else word)
                    at += 1 + two_cells(t)
                result = tuple(result)
            if pending_calls:
                k, _ = pending_calls.pop()
                r = records[k]
                records[k] = TraceRecord(r.step, r.depth, r.func, r.pc, r.op, result, r.height, r.writes)
            depth -= 1
        if slot.bulk and records:  # an item of a bulk instruction's loop: it extends the record's write
            r = records[-1]
            if op == "table.write":  # an element word: the function's store address (-1: no function's word)
                w = Write("table", slot.index, addr - slot.base, (payload_of(slot.ref, val, prompt.payloads),))
            else:
                w = _store(slot, op, fp, cells, b, val)
            records[-1] = TraceRecord(r.step, r.depth, r.func, r.pc, r.op, r.pushed, r.height, _extend(r.writes, w))
        elif row.value == "store_hi" and addr and records and records[-1].writes and not slot.micro:
            # the store crossed into the next word: its bytes there continue the store's write
            r, w = records[-1], records[-1].writes[0]
            n = MEMORY_ACCESS[op][0]
            rest = val.to_bytes(4, "little")[: n - len(w.value)]
            records[-1] = TraceRecord(r.step, r.depth, r.func, r.pc, r.op, r.pushed, r.height,
                                      (Write(w.kind, w.index, w.addr, w.value + rest),))
        if addr:
            if vocab.DROP_BASE <= addr < vocab.DROP_BASE + vocab.MAX_SEGMENTS and val:
                dropped.add(addr - vocab.DROP_BASE)
        fp = b[2] | (b[3] << 8)
        slot_no = next_slot
        i += vocab.GROUP


def _grown(prompt: ProgramPrompt, cells: dict) -> list | None:
    """What table.grow did: each table's size cell as the model left it and the elements past the size the
    prompt gave (their cells; a cell never written is null)."""
    if prompt.table_cells is None:
        return None
    out = []
    for size_cell, base, kind in prompt.table_cells:
        before, after = prompt.cells.get(size_cell), cells.get(size_cell)
        if before is None or after is None or after == before:
            out.append(None)
            continue
        if not before <= after <= vocab.MAX_TABLE:  # a size no table.grow leaves (a faulty model): no elements
            out.append((after, {}))
            continue
        out.append((after, {i: payload_of(kind, cells.get(base + i, 0), prompt.payloads) for i in range(before, after)}))
    return out


def _extend(writes: tuple, w: Write) -> tuple:
    """A bulk instruction's write with one more byte: after its end (forward) or before its start
    (backward); a byte anywhere else (a model fault) is a write of its own, so the trace shows it."""
    if not writes:
        return (w,)
    last = writes[-1]
    if w.addr == last.addr + len(last.value):
        return (*writes[:-1], Write(last.kind, last.index, last.addr, last.value + w.value))
    if w.addr + len(w.value) == last.addr:
        return (*writes[:-1], Write(last.kind, last.index, w.addr, w.value + last.value))
    return (*writes, w)


def _gather(slot, fp, cells) -> Write:
    """i64.store's write: its bytes at the effective address, read from the memory words as the model wrote
    them (hidden i32 stores wrote them; a byte stored elsewhere leaves these unchanged and diverges)."""
    height = slot.imm[0] | (slot.imm[1] << 8)
    ea = cells.get(fp + height - 2, 0) + int.from_bytes(bytes(slot.imm[8:12]), "little")
    data = bytes((cells.get(vocab.MEM_BASE + (ea + j) // 4, 0) >> (8 * ((ea + j) % 4))) & 255 for j in range(slot.gather))
    return Write("memory", 0, ea, data)


def _store(slot, op, fp, cells, b, word) -> Write:
    """The memory write of a store's group: the model wrote the whole word (cell MEM_BASE + ea // 4); the
    stored bytes sit at ea % 4, where ea = the address operand (as the model wrote that cell) + offset."""
    n, _ = MEMORY_ACCESS[op]
    height = slot.imm[0] | (slot.imm[1] << 8)
    offset = int.from_bytes(bytes(slot.imm[8:12]), "little")
    ea = cells.get(fp + height - 2, 0) + offset
    cell = b[4] | (b[5] << 8)
    bo = ea & 3
    return Write("memory", 0, 4 * (cell - vocab.MEM_BASE) + bo, word.to_bytes(4, "little")[bo : bo + n])
