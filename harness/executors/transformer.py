"""The reference transformer as an executor: wasm runs inside the compiled model.

Config ``DEVICE-DTYPE-BACKEND`` (cpu-f64-dense, cpu-f32-dense, cuda-f64-dense,
... ; hull once ``reference_model/attention/hull.py`` exists).  Each invoke
encodes the module's reachable functions, the current globals and the
arguments as a prompt, decodes until halt / trap, and turns the tokens back
into trace records.  Globals persist between invokes through the prompt:
the values come from the global writes decoded from earlier traces (the
token history), or the module's initial values if never written.
"""
from __future__ import annotations

import random

import torch
import wasmtime

from reference_model.compiler import vocabulary as vocab
from reference_model.compiler.machine_to_graph import LONG_RECENCY, MachineDescription
from reference_model.determinism import pinned, settings
from reference_model.errors import (Exhaustion, ExecutorOutcome, LinkError, MalformedOutput, ModuleRejected, StepLimit,
                                    Trap, Unsupported)
from reference_model.interpreter import CellStack
from reference_model.program.binary import const_value, decode_module
from reference_model.program.decoding import MalformedTrace, decode_trace
from reference_model.program.encoding import (MAX_EXTERN, NOOP_HOST, REF_TYPES, Extern, Ref, encode_invocation, global_type,
                                              memory_pages, state_use)
from reference_model.trace import trace_hash
from reference_model.values import Value

from . import ConfigError, parse_config
from .base import TIE_EPS, Executor, Invocation, NearTie, Session

SPECTEST_GLOBALS = {"global_i32": 666, "global_i64": 666, "global_f32": 0x4426A666, "global_f64": 0x4084D4CCCCCCCCCD}
NUMBERS = ("i32", "i64", "f32", "f64")  # the value types the model carries (floats as their bits)
DEFAULT_MAX_STEPS = 20000
# the positions (prompt and trace) the compiled memory keys tell apart: the key (2w, t - T w^2) lets the most
# recent write win only while t < T (compiler/machine_to_graph.py, MachineDescription.recency): 2^22 by default,
# 2^25 in a config ending in -long
RECENCY_POSITIONS = int(MachineDescription().recency)
LONG_POSITIONS = int(LONG_RECENCY)
HAYSTACK = 8  # earlier prompts kept to fill batches around a needle
NEEDLE_SEED = 3


class LinearMemory(bytearray):
    """A linear memory's bytes (any number of pages; the model addresses the first), shared by the instances
    that export and import it: what a call in one writes, the others read.  ``max_pages``: the most pages
    memory.grow may reach (None: the spec's limit); ``unknown``: why its contents are not known (a call that
    did not finish may have written it), "" while they are."""

    def __init__(self, size: int = 0, max_pages: int | None = None):
        super().__init__(size)
        self.max_pages = max_pages
        self.unknown = ""


class Table(list):
    """A table's elements (``Ref`` / ``Extern`` / None for null), shared by the instances that define, export
    and import it; ``unknown``: why its contents are not known, "" while they are."""

    def __init__(self, elements=()):
        super().__init__(elements)
        self.unknown = ""


class ModuleInstance:
    def __init__(self, module, globals_bits: dict, memory: LinearMemory | None = None):
        self.module = module
        # global index -> bits (numbers), or a reference global's payload as the trace has it (a funcref's
        # store address, an externref's payload; None: null)
        self.globals = globals_bits
        # the linear memory (its own, or the one it imports)
        self.memory = memory if memory is not None else LinearMemory()
        # data segments dropped (data.drop, and active ones once instantiated): memory.init sees them empty
        self.dropped = {x for x, (_mem, offset, _data) in enumerate(module.data) if offset != -1}
        # part of the state (("global", i); "tables" while they are not held here) -> why it is unknown here;
        # a memory's and a held table's reason is on the object, which instances share
        self.unknown: dict = {}
        self.shadow = None  # the reference interpreter's instance of the module (linking checks)
        # tables and element segments as encode_invocation takes them (None: not known here)
        self.tables: list[Table] | None = None
        self.elems: list | None = None
        self.ref = None  # store address -> Ref (the session's)
        self.funcs: list | None = None  # the Ref of each of the module's functions (ref.func)
        self.table_types: list | None = None  # each table's element type
        self.table_max: list | None = None  # the most elements each table may grow to

    def unknown_reason(self, parts) -> str:
        """Why one of ``parts`` is unknown ("" if all are known); ("global", None) stands for every global."""
        for part in sorted(parts, key=str):
            if part == "memory":
                why = self.memory.unknown
            elif part == "tables" and self.tables is not None:
                why = next((t.unknown for t in self.tables if t.unknown), None)
            else:
                why = self.unknown.get(part)
            if why is None and isinstance(part, tuple):  # a global: unknown if every global is
                why = self.unknown.get(("global", None))
                if why is None and part[1] is None:  # every global: unknown if any one is
                    why = next((w for k, w in self.unknown.items() if isinstance(k, tuple)), None)
            if why:
                return f"{_part_name(part)} unknown: {why}"
        return ""

    def mark_unknown(self, part, why: str) -> None:
        """Part of the state is unknown from now on (a memory or a table: for every instance sharing it); the
        first reason stays."""
        if part == "memory":
            self.memory.unknown = self.memory.unknown or why
        elif part == "tables" and self.tables is not None:
            for t in self.tables:
                t.unknown = t.unknown or why
        else:
            self.unknown.setdefault(part, why)

    def any_unknown(self) -> bool:
        return bool(self.unknown or self.memory.unknown or any(t.unknown for t in self.tables or ()))

    def held(self, kind: str, payload):
        """A reference as the executor holds it, from the trace's payload: a funcref's Ref, an externref's
        Extern, None for null (and for -1, the payload of a word no function has: a faulty trace wrote it)."""
        if kind == "externref":
            return _extern(payload)
        return None if payload is None or payload < 0 else self.ref(payload)

    def table_kind(self, t) -> str:
        return "funcref" if self.table_types is None else self.table_types[t]

    def encoder_globals(self) -> dict:
        """The globals as encode_invocation takes them: a reference global's payload as its Ref / Extern."""
        out = dict(self.globals)
        for g, p in self.globals.items():
            t = global_type(self.module, g)
            if t == "funcref" and p is not None and p < 0:  # a word no function has (a faulty trace): not held
                del out[g]
            elif t in REF_TYPES:
                out[g] = self.held(t, p)
        return out

    def grow_tables(self, grown: list | None) -> None:
        """table.grow's changes (the sizes and the new elements the run left, from the decoder)."""
        for t, g in enumerate(grown or ()):
            if g is None or self.tables is None:
                continue
            size, elements = g
            table = self.tables[t]
            if not len(table) <= size <= vocab.MAX_TABLE:  # a size no table.grow leaves (a model fault)
                self.mark_unknown("tables", f"a call left table {t} with {size} elements")
                continue
            table.extend(self.held(self.table_kind(t), p) for _, p in sorted(elements.items()))

    def apply(self, records: list) -> None:
        """The memory and table writes of a trace (they persist even when the call trapped later)."""
        for r in records:
            for w in r.writes:
                if w.kind == "memory":
                    self.memory[w.addr : w.addr + len(w.value)] = w.value
                elif w.kind == "table" and self.tables is not None:
                    values = w.value if isinstance(w.value, tuple) else (w.value,)  # table.set writes one
                    self.tables[w.index][w.addr : w.addr + len(values)] = [
                        self.held(self.table_kind(w.index), p) for p in values]


def _extern(payload):
    return None if payload is None else Extern(payload)


def _part_name(part) -> str:
    if isinstance(part, tuple):
        return "globals" if part[1] is None else f"global {part[1]}"
    return part


def _config(config: str) -> dict:
    try:
        c = parse_config(config)
    except ConfigError as e:
        raise ValueError(str(e)) from None
    c["tf32"], c["fault"], c["weights"], c["long"] = False, "", "sparse", False
    torch_engine = False
    forced = None  # a fault may need a weight format (float16: torch has no CPU float16 CSR kernel)
    for part in filter(None, c["variant"].split("-")):
        if part == "tf32":  # float32 matmuls on TF32 tensor cores (CUDA): shows what TF32 does
            c["tf32"] = True
            continue
        if part == "dense_weights":  # BLAS on the stored matrices instead of CSR copies (float32 sums in another order)
            c["weights"] = "dense"
            continue
        if part == "torch_engine":  # hull on the CPU through torch ops, not the fused native engine
            torch_engine = True
            continue
        if part == "long":  # memory keys with T = 2^25: traces up to 33.5M positions (float32 resolves less)
            c["long"] = True
            continue
        from reference_model.faults import fault_of_variant

        try:
            fault = fault_of_variant(part)  # fault_<name>: a planted weight fault (negative control)
        except KeyError as e:
            raise ValueError(f"{e.args[0]} (or tf32, dense_weights, torch_engine, long) in {config!r}") from None
        c["fault"] = part
        forced = fault.weights
    if c["long"] and c["fault"]:
        raise ValueError(f"a fault runs on the default model, not with -long, in {config!r}")
    c["weights"] = forced or c["weights"]
    # the native engine (reference_model/native.py) serves hull attention on the CPU in its own CSR format;
    # everything else, and any config that asks for torch's weight formats or TF32, runs through torch
    native = c["backend"] == "hull" and c["device"] == "cpu" and c["weights"] == "sparse" and not c["tf32"]
    c["engine"] = "native" if native and not torch_engine else "torch"
    return c


def attention_margins(selected: torch.Tensor, margin: torch.Tensor, best: torch.Tensor,
                      tie_eps: float = TIE_EPS, start: int = 0) -> tuple[float | None, NearTie | None]:
    """The smallest relative margin (in eps of the run's dtype) and the first near tie, of one run's tokens
    from ``start`` on.

    selected / margin / best: (tokens, heads) as Generation gives them.  A
    head that found a single position (margin inf) has no runner-up and is
    left out; an exact tie (several positions share the best score and their
    values were averaged) has margin 0: the nearest tie there is.
    """
    if margin.numel() == 0:
        return None, None
    eps = torch.finfo(margin.dtype).eps
    m, b = margin.double(), best.double()
    scale = torch.maximum(b.abs(), (b - m).abs()).clamp_min(torch.finfo(torch.float64).tiny)
    rel = torch.where(torch.isfinite(m), m / scale / eps, torch.inf)
    rel = torch.where(torch.isnan(m) | torch.isnan(b), 0.0, rel)  # NaN scores (overflow) separate nothing: a tie
    finite = rel[torch.isfinite(rel)]
    min_margin = float(finite.min()) if finite.numel() else None
    near = (rel < tie_eps).nonzero()
    if not len(near):
        return min_margin, None
    from reference_model.compiler.compiling import head_names

    i, head = (int(x) for x in near[0])  # nonzero() is row-major: the earliest token first
    names = head_names()
    return min_margin, NearTie(start + i, (start + i) // vocab.GROUP,
                               names[head] if head < len(names) else f"head {head}", int(selected[i, head]),
                               float(rel[i, head]))


class AttentionSummary:
    """attention_margins of one batch row, folded over the spans generate() hands its ``attention_sink``: a run
    of millions of tokens keeps two numbers, not 29 heads x 24 bytes a token."""

    def __init__(self, row: int):
        self.row = row
        self.min_margin: float | None = None
        self.near_tie: NearTie | None = None

    def __call__(self, row: int, start: int, selected, margin, best) -> None:
        if row != self.row:
            return
        low, tie = attention_margins(selected, margin, best, start=start)
        if low is not None and (self.min_margin is None or low < self.min_margin):
            self.min_margin = low
        self.near_tie = self.near_tie or tie  # spans come in order: the first is the earliest


def run_invocation(instance: ModuleInstance, func: int, args: list, *, device="cpu", dtype="f64", backend="dense",
                   max_steps: int = DEFAULT_MAX_STEPS, fault: str = "", tf32: bool = False, weights: str = "sparse",
                   engine: str = "torch", batch: int = 1, haystack: list | None = None, rng: random.Random | None = None,
                   max_prompt: int | None = None, long: bool = False) -> Invocation:
    """Execute one call on the compiled model; raise Trap / Exhaustion / StepLimit / Unsupported.

    ``long``: the model whose memory keys tell LONG_POSITIONS apart (T = 2^25), not RECENCY_POSITIONS.

    With ``batch`` > 1 the call is a *needle*: its prompt goes at a random
    position (``rng``) of a left-padded batch whose other rows are the
    ``haystack`` prompts (earlier calls of the session, cycled; copies of
    the needle when there are none).  Only the needle's row is decoded, so
    a batch-invariant model gives the same trace at every batch size.
    """
    from reference_model.weights import compiled_model

    bits = []
    for a in args:
        if a.type == "funcref" and a.bits is None:  # a null funcref: the element word 0
            bits.append(0)
            continue
        if a.type == "externref":  # the payload's word (payload + 1; 0: null)
            if a.bits is not None and not 0 <= a.bits <= MAX_EXTERN:
                raise Unsupported(f"externref payload {a.bits} (its word, payload + 1, takes a cell)")
            bits.append(0 if a.bits is None else a.bits + 1)
            continue
        if a.type not in NUMBERS:
            raise Unsupported(a.type)
        bits.append(a.bits)
    first_page = bytes(memoryview(instance.memory)[: 4 * vocab.MEM_WORDS])  # all the prompt can lay out
    prompt = encode_invocation(instance.module, func, bits, instance.encoder_globals(), memory=first_page,
                               dropped=frozenset(instance.dropped), tables=instance.tables, elems=instance.elems,
                               pages=len(instance.memory) // 65536, funcs=instance.funcs,
                               table_types=instance.table_types, table_max=instance.table_max,
                               memory_max=instance.memory.max_pages)
    if max_prompt and len(prompt.tokens) > max_prompt:  # a budget, like max_steps: dense prefill is O(prompt^2)
        raise StepLimit(f"prompt of {len(prompt.tokens)} tokens over the {max_prompt}-token budget")
    if fault:
        from reference_model.faults import faulty_model

        model = faulty_model(device, dtype, fault.removeprefix("fault_"))
    else:
        model = compiled_model(device, dtype, LONG_RECENCY if long else None)
    prompts, row = [prompt.tokens], 0
    if batch > 1:
        pool = haystack or [prompt.tokens]
        others = [pool[k % len(pool)] for k in range(batch - 1)]
        row = (rng or random).randrange(batch)
        prompts = others[:row] + [prompt.tokens] + others[row:]

    def stop_row(b: int, tokens: list) -> bool:  # the needle stops as soon as its trace cannot be valid
        if b != row:  # the other rows only fill the batch: decoding ends with the needle
            return True
        try:
            decode_trace(prompt, tokens)
        except MalformedTrace:
            return True
        return False

    budget = max_steps * vocab.GROUP + 2
    positions = LONG_POSITIONS if long else RECENCY_POSITIONS
    room = positions - len(prompt.tokens)  # a trace may not pass the keys' recency range
    past_recency = Unsupported(f"a trace past {positions:,} positions (the memory keys' recency range: past it "
                               "the most recent write no longer wins" + ("" if long else "; a config ending in -long "
                                                                         f"tells {LONG_POSITIONS:,} apart") + ")")
    if room <= 0:
        raise past_recency
    summary = AttentionSummary(row)
    with pinned(tf32=tf32):
        gen = model.generate(prompts, max_new_tokens=min(budget, room),
                             stop_tokens=vocab.STOP_TOKENS, backend=backend, weights=weights, engine=engine,
                             stop_when=stop_row, attention_sink=summary)
    tokens = gen.tokens[row]
    min_margin, near_tie = summary.min_margin, summary.near_tie
    if haystack is not None and gen.stopped[row]:  # a prompt that halts joins the haystack for later needles
        haystack.append(prompt.tokens)
        del haystack[:-HAYSTACK]
    try:
        run = decode_trace(prompt, tokens)
    except MalformedTrace as e:
        err = MalformedOutput(f"malformed trace: {e}")
        err.min_margin, err.near_tie = min_margin, near_tie
        raise err from None
    cells = CellStack(prompt.fp0, MachineDescription().stack_limit, prompt.call_sites())  # the model's call stack
    if run.pages is not None and run.pages * 65536 > len(instance.memory):  # memory.grow (before the writes)
        instance.memory.extend(bytes(run.pages * 65536 - len(instance.memory)))
    instance.grow_tables(run.grown)  # (before the writes: a table.set may write a new element)
    instance.apply(run.records)  # what the trace wrote stays written, also when it trapped later
    instance.dropped |= run.dropped
    n_data = len(instance.module.data)
    for flag in run.dropped:  # elem.drop: the segment is empty from now on
        if flag >= n_data and instance.elems is not None and flag - n_data < len(instance.elems):
            instance.elems[flag - n_data] = []
    if run.outcome in ("trap", "exhaustion"):
        instance.globals.update(run.global_writes)
    if run.outcome == "trap":
        raise _with(Trap(run.message), run, min_margin, near_tie, cells)
    if run.outcome == "exhaustion":
        raise _with(Exhaustion(run.message), run, min_margin, near_tie, cells)
    if run.outcome == "unsupported":
        raise _with(Unsupported(run.message), run, min_margin, near_tie, cells)
    if run.outcome == "incomplete":
        if room < budget and len(tokens) >= room:
            raise _with(past_recency, run, min_margin, near_tie, cells)
        raise _with(StepLimit(f"step limit {max_steps} reached"), run, min_margin, near_tie, cells)
    instance.globals.update(run.global_writes)
    return Invocation([Value(t, r) for t, r in zip(prompt.result_types, run.results)], steps=len(run.records),
                      tokens=len(tokens), trace=run.records, trace_hash=trace_hash(run.records), min_margin=min_margin,
                      near_tie=near_tie, cells=cells,
                      extra={"slots_executed": run.steps, "prompt_tokens": len(prompt.tokens), "needle_position": row,
                             "batch": len(prompts)})


def _with(outcome, run, min_margin, near_tie, cells):
    outcome.trace = run.records
    outcome.steps = len(run.records)
    outcome.min_margin, outcome.near_tie = min_margin, near_tie
    outcome.cells = cells
    return outcome


class TransformerSession(Session):
    def __init__(self, options: dict):
        self.options = options
        self.engine = wasmtime.Engine()
        self.registered: dict = {}
        # batch > 1: earlier prompts fill the batch around each needle, at positions drawn from a
        # generator seeded per session, so a rerun puts every needle where it was before
        self.haystack: list[list[int]] = []
        self.rng = random.Random(NEEDLE_SEED)
        # linking and instantiation (imports, segment bounds, start functions) are checked by the reference
        # interpreter on a shadow of every instance: the model executes calls, not module linking
        from .reference import ReferenceExecutor

        self.shadow = ReferenceExecutor().open_session()
        self._by_shadow: dict = {}  # id of a shadow instance -> the instance here
        self.spectest_memory = LinearMemory(65536, 2)  # spectest's memory (1 page, at most 2), shared by importers
        self._tables: dict = {}  # id of a shadow table -> (that table, the Table here): shared by every importer

    def validate(self, wasm: bytes) -> None:
        try:
            wasmtime.Module.validate(self.engine, wasm)
        except Exception as e:  # wasmtime raises WasmtimeError
            raise ModuleRejected(str(e).splitlines()[0] if str(e) else "invalid module") from None

    def instantiate(self, wasm: bytes):
        self.validate(wasm)
        try:
            m, unreadable = decode_module(wasm), None
        except (ValueError, IndexError) as e:  # a valid module (wasmtime said so) this minimal decoder cannot read
            m, unreadable = None, e
        memory, mem_mirror = self._imported_memory(m) if m is not None else (None, None)
        tables = self._imported_tables(m) if m is not None else []
        n_funcs = len(self.shadow.store.funcs)
        try:
            instance = self._link(wasm, m, unreadable, memory)
        except LinkError:
            raise  # nothing was written: a module that does not link is not instantiated
        except Trap:
            if m is None or m.start is not None:
                self._unknown_after(memory, tables, "its start function trapped")
            else:  # a segment out of bounds: the shadow (in the state here) wrote the segments before it
                if memory is not None and not memory.unknown:
                    memory[:] = mem_mirror.data
                # the functions its segments put in shared tables stay callable: a stand-in instance names their
                # module (the model runs such a function when it touches no state)
                stand_in = ModuleInstance(m, {}, memory)
                for f in self.shadow.store.funcs[n_funcs:]:
                    if f.module is not None:
                        self._by_shadow.setdefault(id(f.module), stand_in)
                for mirror, _table in tables:
                    self._held_table(mirror)
            raise
        except BaseException as e:
            # the module may have written its data and element segments and run a start function that this
            # executor did not follow: the memory and tables it imports are unknown
            self._unknown_after(memory, tables, str(e))
            raise
        return instance

    @staticmethod
    def _unknown_after(memory, tables, what: str) -> None:
        why = f"shared with a module whose instantiation was not run here ({what})"
        for part in (memory, *(t for _, t in tables)):
            if part is not None:
                part.unknown = part.unknown or why

    def _held_table(self, mirror) -> Table:
        """The Table here for a shadow table, its elements read from the shadow (which instantiation just
        wrote: element segments)."""
        conv = self._ref if mirror.type.elem == "funcref" else _extern
        entry = self._tables.get(id(mirror))
        if entry is None:
            entry = self._tables[id(mirror)] = (mirror, Table())
        table = entry[1]
        if not table.unknown:
            table[:] = [conv(a) for a in mirror.elements]
        return table

    def _imported_tables(self, m) -> list:
        """The tables module m imports, as this session holds them; each one's elements and size are copied to
        the shadow's, so that the link check and the element segments see the table the model left."""
        out = []
        for mod, name, kind, _desc in m.imports:
            mirror = self.shadow._resolve(mod, name) if kind == 1 else None
            if mirror is None or not hasattr(mirror, "elements"):
                continue
            entry = self._tables.get(id(mirror))
            if entry is None:  # spectest's table, first imported
                out.append((mirror, self._held_table(mirror)))
                continue
            table = entry[1]
            if not table.unknown:
                mirror.elements[:] = [None if e is None else e.addr if isinstance(e, Ref) else e.payload for e in table]
                lim = mirror.type.limits
                mirror.type = type(mirror.type)(mirror.type.elem, type(lim)(len(table), lim.max))
            out.append((mirror, table))
        return out

    def _imported_memory(self, m) -> tuple:
        """The memory module m imports, as this session holds it (spectest's, or a registered instance's), and
        the shadow's; its size and bytes are copied to the shadow's, so that the link check and the data
        segments see the memory the model left."""
        for mod, name, kind, _desc in m.imports:
            if kind != 2:
                continue
            if mod == "spectest" and name == "memory":
                memory = self.spectest_memory
            else:
                src = self.registered.get(mod)
                export = src.module.exports.get(name) if src is not None else None
                if export is None or export[0] != 2:
                    return None, None  # it will not link
                memory = src.memory
            mirror = self.shadow._resolve(mod, name)
            if mirror is None or not hasattr(mirror, "data"):
                return None, None
            if len(mirror.data) < len(memory):
                mirror.data.extend(bytes(len(memory) - len(mirror.data)))
                mirror.type = type(mirror.type)(len(memory) // 65536, mirror.type.max)
            if not memory.unknown:
                mirror.data[:] = memory
            return memory, mirror
        return None, None

    def _link(self, wasm: bytes, m, unreadable, memory: LinearMemory | None):
        if m is not None:
            self._shared(m)
            # the link check needs every registered instance it imports from to have a shadow, in the state the
            # model left it
            if not all(self.registered[mod].shadow is not None and not self.registered[mod].any_unknown()
                       for mod, *_ in m.imports if mod in self.registered):
                raise Unsupported("imports from a module whose linking the reference interpreter cannot check")
        shadow = None
        try:
            shadow = self.shadow.instantiate(wasm)
        except (LinkError, Trap):
            raise  # an unlinkable / uninstantiable module
        except ExecutorOutcome as e:  # the reference interpreter does not take this module: no link check for it
            if m is not None and m.imports:  # whether its imports link is then unknown (an assert_unlinkable)
                why = getattr(e, "feature", e.message)
                raise Unsupported(f"linking a module the reference interpreter does not take ({why})") from None
        if m is None:
            raise Unsupported(f"module encoding ({unreadable})")
        instance = self._instantiate(m, memory)
        instance.shadow = shadow
        instance.ref = self._ref
        if shadow is not None:
            self._by_shadow[id(shadow)] = instance
            instance.tables = [self._held_table(t) for t in shadow.tables]
            instance.table_types = [t.type.elem for t in shadow.tables]
            instance.table_max = [min(t.max, self.shadow.store.max_table_elements) for t in shadow.tables]
            instance.elems = [[self._ref(a) if shadow.module.elems[x].type == "funcref" else _extern(a) for a in seg]
                              for x, seg in enumerate(shadow.elems)]
            instance.dropped |= {len(m.data) + x for x, seg in enumerate(shadow.module.elems) if seg.mode != "passive"}
            instance.funcs = [self._ref(f.addr) for f in shadow.funcs]
            for g, gl in enumerate(shadow.globals):  # a reference global's value: its payload, as the trace has it
                if global_type(m, g) in REF_TYPES:
                    instance.globals[g] = gl.value
        return instance

    def _ref(self, addr) -> Ref | None:
        """The Ref of a function's store address (in the shadow store, which allocates like the reference's)."""
        if addr is None:
            return None
        f = self.shadow.store.funcs[addr]
        sig = (tuple(f.type.params), tuple(f.type.results))
        inst = self._by_shadow.get(id(f.module)) if f.module is not None else None
        if inst is None:
            if f.host is not None and (f.name or "").startswith("spectest.print"):  # (reference.spectest)
                return Ref(addr, None, -1, sig, NOOP_HOST)
            return Ref(addr, None, -1, sig, "a host function" if f.host is not None else "an instance not run here")
        return Ref(addr, inst.module, f.index, sig)

    def _shared(self, m) -> None:
        """Parts of registered instances that module m imports and may change (at instantiation too: data and
        element segments, a start function) become unknown there: the model does not run m's changes."""
        for mod, name, kind, desc in m.imports:  # what another module may change in a registered instance
            src = self.registered.get(mod)
            export = src.module.exports.get(name) if src is not None else None
            if export is None or export[0] != kind:
                continue
            why = f"shared with a module that imports it ({mod}.{name}), whose changes are not run here"
            if kind == 3 and desc[1]:  # a mutable global (memories and tables are shared: instantiate)
                src.unknown.setdefault(("global", export[1]), why)

    def _instantiate(self, m, imported: LinearMemory | None = None):
        if m.start is not None:
            raise Unsupported("start function")
        globals_bits = {}
        for g, (mod, name, t, _mut) in enumerate(m.imported_globals):
            if mod == "spectest" and name in SPECTEST_GLOBALS:
                globals_bits[g] = SPECTEST_GLOBALS[name]
            elif mod in self.registered and name in self.registered[mod].module.exports:
                src = self.registered[mod]
                globals_bits[g] = src.globals.get(src.module.exports[name][1], 0)
            elif t in NUMBERS:
                raise Unsupported(f"imported global {mod}.{name}")
        n_imp = len(m.imported_globals)
        for i, gl in enumerate(m.globals):
            if gl.type in NUMBERS:
                v = gl.init if gl.init is not None else const_value(gl.expr, globals_bits)
                if v is None:
                    raise Unsupported("global initialiser")
                globals_bits[n_imp + i] = v & (0xFFFFFFFF if gl.type in ("i32", "f32") else 0xFFFFFFFFFFFFFFFF)
        if imported is not None:
            memory_pages(m, imported=True)  # (the checks on the memory's kind)
            memory = imported
        else:
            memory = LinearMemory(65536 * memory_pages(m), m.memories[0][1] if m.memories else None)
        for _mem, offset, data in m.data:
            if offset == -1:  # passive: only memory.init reads it
                continue
            if isinstance(offset, bytes):
                offset = const_value(offset, globals_bits)
                if offset is None:
                    raise Unsupported("data segment offset")
                offset &= 0xFFFFFFFF
            if offset + len(data) > len(memory):
                raise Unsupported("data segment out of bounds")
            memory[offset : offset + len(data)] = data
        return ModuleInstance(m, globals_bits, memory)

    def register(self, name: str, instance) -> None:
        self.registered[name] = instance
        if instance.shadow is not None:
            self.shadow.register(name, instance.shadow)

    def invoke(self, instance, field: str, args: list) -> Invocation:
        kind, idx = instance.module.exports.get(field, (None, None))
        if kind != 0:
            raise Unsupported(f"export {field!r} is not a function")
        use, writes = state_use(instance.module, idx)
        why = instance.unknown_reason(use)
        if why:
            raise Unsupported(why)
        try:
            return run_invocation(instance, idx, args, haystack=self.haystack, rng=self.rng, **self.options)
        except (Unsupported, StepLimit, MalformedOutput) as e:
            # the call did not run to its end here, so what it would have written is unknown: a later call
            # that uses that part of the state could only give results for a state the module is not in
            for part in writes:
                instance.mark_unknown(part, f"an earlier call that may write it ({field}) ended with: {e}")
            raise

    def get(self, instance, field: str) -> Value:
        kind, idx = instance.module.exports.get(field, (None, None))
        if kind != 3:
            raise Unsupported(f"export {field!r} is not a global")
        why = instance.unknown_reason([("global", idx)])
        if why:
            raise Unsupported(why)
        t = global_type(instance.module, idx)
        if t not in (*NUMBERS, *REF_TYPES) or idx not in instance.globals:
            raise Unsupported(t)
        return Value(t, instance.globals[idx])


class TransformerExecutor(Executor):
    name = "transformer"
    traces = True

    def __init__(self, config: str = "cpu-f64-dense", *, max_steps: int = DEFAULT_MAX_STEPS, batch: int = 1,
                 max_prompt: int | None = None, **_ignored):
        c = _config(config)
        if batch < 1:
            raise ValueError(f"batch must be at least 1 (got {batch})")
        self.config = config
        self.options = {"device": c["device"], "dtype": c["dtype"], "backend": c["backend"], "max_steps": max_steps,
                        "fault": c["fault"], "tf32": c["tf32"], "weights": c["weights"], "engine": c["engine"],
                        "batch": batch, "long": c["long"],
                        "max_prompt": max_prompt}

    def open_session(self) -> Session:
        return TransformerSession(self.options)

    def versions(self) -> dict:
        with pinned(tf32=self.options["tf32"]):
            return {"torch": torch.__version__, "machine": "i32-i64-memory-tables-4", "max_steps": self.options["max_steps"],
                    "recency": LONG_POSITIONS if self.options["long"] else RECENCY_POSITIONS,
                    "max_prompt": self.options["max_prompt"], "weight_format": self.options["weights"],
                    "engine": self.options["engine"],
                    **settings()}


def invoke_module(wasm: bytes, export: str, args: list, config: str = "cpu-f64-dense") -> Invocation:
    """One-shot: instantiate ``wasm`` and invoke ``export`` (for ``wasmconf invoke``)."""
    session = TransformerExecutor(config).open_session()
    return session.invoke(session.instantiate(wasm), export, args)
